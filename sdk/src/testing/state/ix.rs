//! Typed indices into the fake executor's tables: a run index can never address a
//! function, an app or an event, and each table ([`IxVec`]) is indexed by its own kind only.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

/// An index into one [`IxVec`].
pub(crate) trait Ix: Copy {
    fn from_usize(i: usize) -> Self;
    fn to_usize(self) -> usize;
}

macro_rules! ix {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub(crate) struct $name(usize);

        impl $name {
            /// The first index of its table.
            #[allow(dead_code, reason = "not every table is addressed by its first index")]
            pub(crate) const FIRST: Self = $name(0);
        }

        impl Ix for $name {
            fn from_usize(i: usize) -> Self {
                $name(i)
            }
            fn to_usize(self) -> usize {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }
    };
}

ix!(
    /// A run, in start order.
    RunIx
);
ix!(
    /// A registered function, in registration order.
    FunctionIx
);
ix!(
    /// An app the executor calls, in registration order.
    AppIx
);
ix!(
    /// A received event, in arrival order: later events have larger sequence numbers.
    EventSeq
);

impl EventSeq {
    /// The event received right after this one.
    pub(crate) fn next(self) -> Self {
        EventSeq(self.0 + 1)
    }
}

/// A `Vec<T>` addressed by one kind of index `I` only.
pub(crate) struct IxVec<I, T> {
    items: Vec<T>,
    ix: PhantomData<fn(I) -> I>,
}

impl<I: Ix, T> IxVec<I, T> {
    pub(crate) fn new() -> Self {
        IxVec {
            items: Vec::new(),
            ix: PhantomData,
        }
    }

    /// Appends `item` and returns its index.
    pub(crate) fn push(&mut self, item: T) -> I {
        self.items.push(item);
        I::from_usize(self.items.len() - 1)
    }

    /// The index the next [`IxVec::push`] returns.
    pub(crate) fn next_ix(&self) -> I {
        I::from_usize(self.items.len())
    }

    /// The index of the last item, if any.
    pub(crate) fn last_ix(&self) -> Option<I> {
        self.items.len().checked_sub(1).map(I::from_usize)
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    pub(crate) fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.items.iter_mut()
    }

    /// Every index with its item, in order.
    pub(crate) fn enumerate(&self) -> impl Iterator<Item = (I, &T)> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, item)| (I::from_usize(i), item))
    }

    /// Every index, in order.
    pub(crate) fn indices(&self) -> impl Iterator<Item = I> + use<I, T> {
        (0..self.items.len()).map(I::from_usize)
    }

    /// The index of the first item matching `f`.
    pub(crate) fn position(&self, f: impl FnMut(&T) -> bool) -> Option<I> {
        self.items.iter().position(f).map(I::from_usize)
    }

    pub(crate) fn as_slice(&self) -> &[T] {
        &self.items
    }
}

impl<I: Ix, T> Index<I> for IxVec<I, T> {
    type Output = T;

    fn index(&self, ix: I) -> &T {
        &self.items[ix.to_usize()]
    }
}

impl<I: Ix, T> IndexMut<I> for IxVec<I, T> {
    fn index_mut(&mut self, ix: I) -> &mut T {
        &mut self.items[ix.to_usize()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_returns_the_index_that_addresses_the_item() {
        let mut runs: IxVec<RunIx, &str> = IxVec::new();
        assert_eq!(runs.next_ix(), RunIx(0));
        let a = runs.push("a");
        let b = runs.push("b");
        assert_eq!((a, b), (RunIx(0), RunIx(1)));
        assert_eq!(runs[b], "b");
        runs[a] = "c";
        assert_eq!(runs.enumerate().collect::<Vec<_>>(), [(a, &"c"), (b, &"b")]);
        assert_eq!(runs.indices().collect::<Vec<_>>(), [a, b]);
        assert_eq!(runs.position(|s| *s == "b"), Some(b));
        assert_eq!(format!("{a:?}"), "RunIx(0)");
    }
}
