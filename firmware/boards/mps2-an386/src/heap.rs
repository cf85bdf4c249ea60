//! The heap benchline-models allocates from (phones, device models, control frames).
#![allow(unsafe_code)]

use core::mem::MaybeUninit;

use embedded_alloc::LlffHeap;

/// Heap size, bytes: four seated phones with their device models and a control frame use a
/// fraction of it.
pub const HEAP_BYTES: usize = 128 * 1024;

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

/// Gives the allocator its memory. Call once, before anything allocates.
pub fn init() {
    static mut MEMORY: [MaybeUninit<u8>; HEAP_BYTES] = [MaybeUninit::uninit(); HEAP_BYTES];
    // SAFETY: called once at the start of `main`, before any allocation; `MEMORY` is used by
    // nothing else, and only its address is taken here.
    unsafe { HEAP.init(core::ptr::addr_of_mut!(MEMORY) as usize, HEAP_BYTES) }
}

/// Bytes allocated now.
#[allow(dead_code)]
pub fn used() -> usize {
    HEAP.used()
}
