// TEMPORARY STUB
use serde_json::Value;
use super::error::ScimError;
use super::schema::ResourceKind;
pub struct PatchOperation;
pub enum MemberChange { Add(Vec<String>), Remove(Vec<String>), RemoveAll, Replace(Vec<String>) }
pub fn parse_patch_request(_b: &Value) -> Result<Vec<PatchOperation>, ScimError> { Ok(vec![]) }
pub fn apply_patch(_k: ResourceKind, _r: &mut Value, _o: &[PatchOperation]) -> Result<(), ScimError> { Ok(()) }
pub fn split_member_ops(o: Vec<PatchOperation>) -> Result<(Vec<MemberChange>, Vec<PatchOperation>), ScimError> { Ok((vec![], o)) }
