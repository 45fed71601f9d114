//! [`NodeCache`]: the promise nodes a thread keeps for reuse once their last handle is gone.
//!
//! Every `then` makes a promise and every `Promise.resolve` of a plain value another, and most
//! of them die a microtask later (a chain of a million reactions makes and frees two million).
//! A node is one heap block (the `Arc` and its lock around the state); keeping a few of the
//! freed ones per thread turns the allocator's `malloc` and `free` into a push and a pop. A
//! node is kept only when the handle being dropped is its last (no clone, no resolving
//! functions, no job refers to it), and only after it was reset to a fresh pending promise, so
//! a reused node is indistinguishable from a new one.

use std::cell::RefCell;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Inner, PromiseHost};

/// How many freed nodes a thread keeps (a chain needs two; a burst of `then`s more).
const KEPT: usize = 64;

/// One promise node: what a [`Promise`](super::Promise) handle points to.
pub(super) type Node<H> = Arc<Mutex<Inner<H>>>;

/// The freed promise nodes one thread keeps for its host `H` (see the module documentation).
///
/// A host that wants its nodes reused declares one per thread and returns it from
/// [`PromiseHost::node_cache`]:
///
/// ```ignore
/// thread_local! {
///     static NODES: NodeCache<MyHost> = const { NodeCache::new() };
/// }
/// ```
pub struct NodeCache<H: PromiseHost> {
    nodes: RefCell<Vec<Node<H>>>,
}

impl<H: PromiseHost> NodeCache<H> {
    /// An empty cache (it allocates its list on the first node kept).
    pub const fn new() -> Self {
        NodeCache {
            nodes: RefCell::new(Vec::new()),
        }
    }

    /// A kept node, reset already, if there is one.
    #[inline]
    pub(super) fn take(&self) -> Option<Node<H>> {
        self.nodes.try_borrow_mut().ok()?.pop()
    }

    /// Keeps `node` (a reset node nothing else refers to) unless the cache is full; gives it
    /// back if it is not kept.
    #[inline]
    pub(super) fn keep(&self, node: Node<H>) -> Option<Node<H>> {
        let Ok(mut nodes) = self.nodes.try_borrow_mut() else {
            return Some(node);
        };
        if nodes.len() >= KEPT {
            return Some(node);
        }
        if nodes.capacity() == 0 {
            nodes.reserve_exact(KEPT);
        }
        nodes.push(node);
        None
    }
}

impl<H: PromiseHost> Default for NodeCache<H> {
    fn default() -> Self {
        NodeCache::new()
    }
}
