//! One copy of each large text a run holds for many hosts. Every host's plan carries its
//! rendered units (to write and to record) and the spec JSON; hosts that render the same unit
//! or record the same spec share one copy, so a rollout's plans cost per distinct text, not
//! per host (BENCHMARKS.md, 10,000 simulated hosts).

use std::collections::HashSet;
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct TextPool(HashSet<Arc<str>>);

impl TextPool {
    /// Points `text` at the pool's copy of the same text, adding it if it is new.
    pub fn share(&mut self, text: &mut Arc<str>) {
        match self.0.get(&**text) {
            Some(pooled) => *text = pooled.clone(),
            None => {
                self.0.insert(text.clone());
            }
        }
    }

    /// How many distinct texts the pool holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_end_up_as_one_allocation_and_different_ones_stay_apart() {
        let mut pool = TextPool::default();
        let mut a: Arc<str> = "unit v1".into();
        let mut b: Arc<str> = String::from("unit v1").into();
        let mut c: Arc<str> = "unit v2".into();
        assert!(!Arc::ptr_eq(&a, &b));
        for text in [&mut a, &mut b, &mut c] {
            pool.share(text);
        }
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!((&*a, &*c), ("unit v1", "unit v2"));
        assert_eq!(pool.len(), 2);
    }
}
