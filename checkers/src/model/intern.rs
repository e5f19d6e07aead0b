//! Interning: values become small integers, so that states are cheap to copy, compare and hash.

use rustc_hash::FxHashMap;

use crate::history::Value;

/// Maps each distinct value to a dense id. Id 0 is always `nil` (absent).
#[derive(Clone, Debug)]
pub struct Interner {
    ids: FxHashMap<Value, u32>,
    values: Vec<Value>,
}

impl Default for Interner {
    fn default() -> Self {
        let mut i = Interner {
            ids: FxHashMap::default(),
            values: Vec::new(),
        };
        i.id(&Value::Nil);
        i
    }
}

impl Interner {
    /// The id of `value`, assigning a new one on first sight.
    pub fn id(&mut self, value: &Value) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.ids.insert(value.clone(), id);
        self.values.push(value.clone());
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
