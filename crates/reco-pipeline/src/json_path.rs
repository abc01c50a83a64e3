//! The `$.a.b` subset of JSONPath the loop's description uses, evaluated on the runner's
//! state the way Step Functions evaluates it on an execution's.

use serde_json::{Map, Value};

/// The fields of `path` (`$.a.b` → `["a", "b"]`), or `None` if it is not of that form.
pub fn fields(path: &str) -> Option<Vec<&str>> {
    if path == "$" {
        return Some(Vec::new());
    }
    let rest = path.strip_prefix("$.")?;
    let fields: Vec<&str> = rest.split('.').collect();
    fields
        .iter()
        .all(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(fields)
}

/// The value at `path` in `state`.
pub fn get<'a>(state: &'a Value, path: &str) -> Option<&'a Value> {
    fields(path)?
        .into_iter()
        .try_fold(state, |value, field| value.get(field))
}

/// Sets `path` in `state` to `value`, creating objects on the way; `false` if `path` is not
/// a plain path or crosses a non-object.
pub fn set(state: &mut Value, path: &str, value: Value) -> bool {
    let Some(fields) = fields(path) else {
        return false;
    };
    let Some((last, parents)) = fields.split_last() else {
        *state = value;
        return true;
    };
    let mut node = state;
    for field in parents {
        let Some(object) = node.as_object_mut() else {
            return false;
        };
        node = object
            .entry(field.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    match node.as_object_mut() {
        Some(object) => {
            object.insert(last.to_string(), value);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_and_write_nested_fields() {
        let mut state = json!({});
        assert!(set(&mut state, "$.train.model_version", json!("v1")));
        assert!(set(&mut state, "$.etl", json!({"snapshot": "2026-12-02"})));
        assert_eq!(get(&state, "$.train.model_version"), Some(&json!("v1")));
        assert_eq!(get(&state, "$.etl.snapshot"), Some(&json!("2026-12-02")));
        assert_eq!(get(&state, "$.etl.missing"), None);
        assert_eq!(get(&state, "$"), Some(&state));
        assert!(!set(&mut state, "$.etl.snapshot.deeper", json!(1)));
        for bad in ["train", "$..x", "$.a[0]", "$.", "$.a b"] {
            assert_eq!(fields(bad), None, "{bad}");
        }
    }
}
