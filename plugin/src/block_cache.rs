//! A cache of freed small blocks in front of an allocator: the component's global allocator.
//!
//! A warm `users.get` allocates and frees about 45 small blocks (strings, header lists, the
//! vectors of a parsed body). Inside the sandbox wasi-libc's malloc and free cost about 250
//! instructions for each pair (BENCHMARKS.md, section 3c). This cache keeps the blocks it is
//! given back in one list per size class and hands them out again: an allocation and its free
//! then cost about 75 instructions, most of them the sandbox's function entry and exit. What
//! it does not cache (a larger or more strictly aligned block, a block beyond a list's cap)
//! goes straight to the allocator behind it, so a large body's memory is returned as before.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;

/// Sizes of the classes step by this many bytes: a request is rounded up to a multiple of it.
pub const GRANULE: usize = 16;
/// Number of size classes: blocks of up to `GRANULE * CLASSES` bytes (512) are cached.
pub const CLASSES: usize = 32;
/// The strictest alignment a cached block serves. Every block is allocated from the allocator
/// behind with this alignment; a request for a stricter one bypasses the cache.
pub const BLOCK_ALIGN: usize = 8;
/// Blocks a class keeps at most; a block freed beyond that goes back to the allocator behind.
/// Bounds what the cache holds to 64 × (16 + 32 + … + 512) bytes, 528 KiB.
pub const MAX_CACHED_PER_CLASS: u32 = 64;

/// A freed block, threaded onto its class's list through its first bytes.
struct FreeBlock {
    next: *mut FreeBlock,
}

/// The freed blocks of one size class.
#[derive(Clone, Copy)]
struct Class {
    head: *mut FreeBlock,
    cached: u32,
}

/// Small blocks freed to `backing`, kept for reuse. Single-threaded: the component's target
/// (`wasm32-wasip2`) has no threads, so the lists need no lock.
pub struct BlockCache<A> {
    backing: A,
    classes: UnsafeCell<[Class; CLASSES]>,
}

// SAFETY: the component's target has no threads (no `atomics` feature), so no two threads
// ever reach the lists. Natively (tests) a cache is never shared between threads: without
// this impl it cannot be.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl<A: Sync> Sync for BlockCache<A> {}

/// The class that serves `layout`, if it is small enough and no more strictly aligned than a
/// cached block.
fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > BLOCK_ALIGN || layout.size() > GRANULE * CLASSES {
        return None;
    }
    Some(layout.size().saturating_sub(1) / GRANULE)
}

/// The layout of every block of `class`, as allocated from and freed to the allocator behind.
fn class_layout(class: usize) -> Layout {
    // SAFETY: the size is a non-zero multiple of 16 far below `isize::MAX`; 8 is a power of two.
    unsafe { Layout::from_size_align_unchecked((class + 1) * GRANULE, BLOCK_ALIGN) }
}

impl<A> BlockCache<A> {
    /// An empty cache in front of `backing`.
    pub const fn new(backing: A) -> Self {
        BlockCache { backing, classes: UnsafeCell::new([Class { head: ptr::null_mut(), cached: 0 }; CLASSES]) }
    }

    /// How many freed blocks of `class` the cache holds (for tests and diagnostics).
    pub fn cached(&self, class: usize) -> u32 {
        // SAFETY: single-threaded (see the `Sync` impl); no reference into the lists outlives a call.
        unsafe { (*self.classes.get())[class].cached }
    }
}

// Each method is one out-of-line copy for the whole component: inlined at every allocation
// and free, the lists would add over 100 KB to it.
unsafe impl<A: GlobalAlloc> GlobalAlloc for BlockCache<A> {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            return self.backing.alloc(layout);
        };
        let list = &mut (*self.classes.get())[class];
        let block = list.head;
        if block.is_null() {
            return self.backing.alloc(class_layout(class));
        }
        list.head = (*block).next;
        list.cached -= 1;
        block.cast()
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            // The allocator behind knows when fresh memory is zero already.
            return self.backing.alloc_zeroed(layout);
        };
        let block = self.alloc(layout);
        if !block.is_null() {
            ptr::write_bytes(block, 0, (class + 1) * GRANULE);
        }
        block
    }

    #[inline(never)]
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            return self.backing.dealloc(pointer, layout);
        };
        let list = &mut (*self.classes.get())[class];
        if list.cached >= MAX_CACHED_PER_CLASS {
            return self.backing.dealloc(pointer, class_layout(class));
        }
        let block = pointer.cast::<FreeBlock>();
        block.write(FreeBlock { next: list.head });
        list.head = block;
        list.cached += 1;
    }

    #[inline(never)]
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        match (class_of(layout), class_of(new_layout)) {
            // The block is already large enough, and no larger than the new size's class.
            (Some(old), Some(new)) if old == new => pointer,
            // Neither is cached: the allocator behind may grow the block in place.
            (None, None) => self.backing.realloc(pointer, layout, new_size),
            _ => {
                let moved = self.alloc(new_layout);
                if !moved.is_null() {
                    ptr::copy_nonoverlapping(pointer, moved, layout.size().min(new_size));
                    self.dealloc(pointer, layout);
                }
                moved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;
    use std::cell::Cell;

    /// The system allocator, counting what reaches it.
    #[derive(Default)]
    struct Counting {
        allocations: Cell<usize>,
        frees: Cell<usize>,
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            self.allocations.set(self.allocations.get() + 1);
            System.alloc(layout)
        }
        unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
            self.frees.set(self.frees.get() + 1);
            System.dealloc(pointer, layout)
        }
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn sizes_fall_into_classes_of_sixteen_bytes() {
        assert_eq!(class_of(layout(1, 1)), Some(0));
        assert_eq!(class_of(layout(16, 8)), Some(0));
        assert_eq!(class_of(layout(17, 4)), Some(1));
        assert_eq!(class_of(layout(512, 8)), Some(31));
        assert_eq!(class_of(layout(513, 1)), None);
        assert_eq!(class_of(layout(64, 16)), None);
    }

    #[test]
    fn a_freed_block_is_handed_out_again_without_the_allocator_behind() {
        let cache = BlockCache::new(Counting::default());
        unsafe {
            let first = cache.alloc(layout(40, 8));
            cache.dealloc(first, layout(40, 8));
            assert_eq!(cache.cached(2), 1);
            // Another size of the same class gets the same block.
            let second = cache.alloc(layout(33, 1));
            assert_eq!(second, first);
            assert_eq!(cache.cached(2), 0);
            cache.dealloc(second, layout(33, 1));
        }
        assert_eq!(cache.backing.allocations.get(), 1);
        assert_eq!(cache.backing.frees.get(), 0);
    }

    #[test]
    fn large_and_strictly_aligned_blocks_bypass_the_cache() {
        let cache = BlockCache::new(Counting::default());
        unsafe {
            for request in [layout(513, 8), layout(32, 16), layout(4096, 4096)] {
                let block = cache.alloc(request);
                assert_eq!(block as usize % request.align(), 0);
                cache.dealloc(block, request);
            }
        }
        assert_eq!((cache.backing.allocations.get(), cache.backing.frees.get()), (3, 3));
        assert!((0..CLASSES).all(|class| cache.cached(class) == 0));
    }

    #[test]
    fn a_class_keeps_at_most_its_cap_and_returns_the_rest() {
        let cache = BlockCache::new(Counting::default());
        let request = layout(100, 4);
        let total = MAX_CACHED_PER_CLASS as usize + 10;
        unsafe {
            let blocks: Vec<*mut u8> = (0..total).map(|_| cache.alloc(request)).collect();
            for block in blocks {
                cache.dealloc(block, request);
            }
        }
        assert_eq!(cache.cached(6), MAX_CACHED_PER_CLASS);
        assert_eq!(cache.backing.frees.get(), 10);
    }

    #[test]
    fn realloc_keeps_the_contents_across_classes_and_the_boundary() {
        let cache = BlockCache::new(System);
        unsafe {
            let mut size = 5;
            let mut block = cache.alloc(layout(size, 1));
            for index in 0..size {
                *block.add(index) = index as u8;
            }
            // Grow through several classes, past the largest, and shrink back into one.
            for new_size in [12, 16, 17, 200, 512, 513, 3000, 700, 300, 9] {
                block = cache.realloc(block, layout(size, 1), new_size);
                for index in 0..size.min(new_size) {
                    assert_eq!(*block.add(index), index as u8, "byte {index} after {size} -> {new_size}");
                }
                for index in size.min(new_size)..new_size {
                    *block.add(index) = index as u8;
                }
                size = new_size;
            }
            cache.dealloc(block, layout(size, 1));
        }
    }

    #[test]
    fn live_blocks_never_overlap_through_mixed_use() {
        // A deterministic mix of sizes, frees and reallocations; every live block holds a tag
        // that must survive until it is freed.
        let cache = BlockCache::new(System);
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let mut seed: u32 = 0x9e37_79b9;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        unsafe {
            for step in 0..20_000u32 {
                let roll = next();
                if live.is_empty() || roll % 3 != 0 {
                    let request = layout(1 + (next() % 700) as usize, 1 << (next() % 4));
                    let block = cache.alloc(request);
                    assert!(!block.is_null());
                    assert_eq!(block as usize % request.align(), 0);
                    let tag = step as u8;
                    ptr::write_bytes(block, tag, request.size());
                    live.push((block, request, tag));
                } else {
                    let index = (next() as usize) % live.len();
                    let (block, request, tag) = live.swap_remove(index);
                    assert!((0..request.size()).all(|at| *block.add(at) == tag), "a live block was overwritten");
                    if roll % 2 == 0 {
                        cache.dealloc(block, request);
                    } else {
                        let new_size = 1 + (next() % 700) as usize;
                        let moved = cache.realloc(block, request, new_size);
                        let kept = request.size().min(new_size);
                        assert!((0..kept).all(|at| *moved.add(at) == tag), "realloc lost the contents");
                        ptr::write_bytes(moved, tag, new_size);
                        live.push((moved, layout(new_size, request.align()), tag));
                    }
                }
            }
            for (block, request, tag) in live {
                assert!((0..request.size()).all(|at| *block.add(at) == tag));
                cache.dealloc(block, request);
            }
        }
    }
}
