//! Every shader parses and validates with naga: no GPU needed.

use cinder_engine::gpu::shaders;

#[test]
fn every_shader_validates() {
    for src in shaders::ALL {
        let module = naga::front::wgsl::parse_str(src.wgsl)
            .unwrap_or_else(|e| panic!("{} does not parse:\n{}", src.name, e.emit_to_string(src.wgsl)));
        let info =
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::default())
                .validate(&module)
                .unwrap_or_else(|e| panic!("{} does not validate:\n{}", src.name, e.emit_to_string(src.wgsl)));
        assert!(
            module.entry_points.iter().any(|e| e.name == src.entry),
            "{} has no entry point {}",
            src.name,
            src.entry
        );
        drop(info);
    }
}

#[test]
fn search_shaders_expose_the_tuning_overrides() {
    for src in [shaders::SHA256D, shaders::BLAKE3] {
        let module = naga::front::wgsl::parse_str(src.wgsl).unwrap();
        let names: Vec<_> = module.overrides.iter().filter_map(|(_, o)| o.name.clone()).collect();
        for want in ["WORKGROUP_SIZE", "NONCES_PER_THREAD"] {
            assert!(names.iter().any(|n| n == want), "{} lacks override {want}: {names:?}", src.name);
        }
    }
}
