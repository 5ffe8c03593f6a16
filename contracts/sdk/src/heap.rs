//! The contracts' allocator: a bump allocator over the instance's memory.
//!
//! A contract instance lives for one call, so memory is never given back:
//! allocation moves a pointer up (growing memory a page at a time when it
//! runs out), freeing the most recent allocation moves it back, and
//! growing the most recent allocation happens in place. Compared with the
//! standard library's dlmalloc this saves its set-up and its first
//! `memory.grow` on every call (a token transfer stays in one 64 KiB page,
//! and the node resets one page after it instead of three).
//!
//! [`contract!`](crate::contract) installs it as the global allocator.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::null_mut;

const PAGE: usize = 65_536;

extern "C" {
    /// Where the linker leaves free memory (after the stack and the data).
    static __heap_base: u8;
}

/// The bump allocator.
pub struct BumpAlloc;

/// The next free byte and the end of memory (0 until the first allocation).
static mut NEXT: usize = 0;
static mut END: usize = 0;

/// Makes memory reach `end`; `false` if it cannot grow that far.
unsafe fn reach(end: usize) -> bool {
    if end <= END {
        return true;
    }
    let pages = (end - END + PAGE - 1) / PAGE;
    if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
        return false;
    }
    END += pages * PAGE;
    true
}

unsafe impl GlobalAlloc for BumpAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if NEXT == 0 {
            NEXT = core::ptr::addr_of!(__heap_base) as usize;
            END = core::arch::wasm32::memory_size(0) * PAGE;
        }
        let start = match NEXT.checked_add(layout.align() - 1) {
            Some(x) => x & !(layout.align() - 1),
            None => return null_mut(),
        };
        let end = match start.checked_add(layout.size()) {
            Some(e) => e,
            None => return null_mut(),
        };
        if !reach(end) {
            return null_mut();
        }
        NEXT = end;
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Only the most recent allocation can be given back.
        if ptr as usize + layout.size() == NEXT {
            NEXT = ptr as usize;
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = ptr as usize;
        if start + layout.size() == NEXT {
            // The most recent allocation grows (or shrinks) in place.
            let end = match start.checked_add(new_size) {
                Some(e) => e,
                None => return null_mut(),
            };
            if !reach(end) {
                return null_mut();
            }
            NEXT = end;
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        let new = self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
        if !new.is_null() {
            core::ptr::copy_nonoverlapping(ptr, new, layout.size());
        }
        new
    }
}
