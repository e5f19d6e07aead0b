//! Interning: values become small integers, so that states are cheap to copy, compare and hash.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use crate::history::Value;

/// Maps each distinct value to a dense id. Id 0 is always `nil` (absent).
///
/// Each value is stored once, in `values`; the table holds only ids and finds a value's id by
/// hashing the value and comparing with `values[id]`. A map from values to ids would store every
/// value twice: a history of millions of distinct written values would pay for it in memory.
#[derive(Clone, Debug)]
pub struct Interner {
    ids: HashTable<u32>,
    values: Vec<Value>,
}

impl Default for Interner {
    fn default() -> Self {
        let mut i = Interner {
            ids: HashTable::new(),
            values: Vec::new(),
        };
        i.id(&Value::Nil);
        i
    }
}

impl Interner {
    /// The id of `value`, assigning a new one on first sight.
    pub fn id(&mut self, value: &Value) -> u32 {
        let hash = FxBuildHasher.hash_one(value);
        let values = &self.values;
        if let Some(&id) = self.ids.find(hash, |&id| values[id as usize] == *value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(value.clone());
        let values = &self.values;
        self.ids
            .insert_unique(hash, id, |&id| FxBuildHasher.hash_one(&values[id as usize]));
        id
    }

    /// The value behind an id.
    pub fn value(&self, id: u32) -> &Value {
        self.values.get(id as usize).unwrap_or(&Value::Nil)
    }

    /// The value in EDN, as people read it.
    pub fn show(&self, id: u32) -> String {
        self.value(id).to_string()
    }
}

impl Interner {
    /// How many distinct values (nil included) have ids.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Never true: nil always has id 0.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}
