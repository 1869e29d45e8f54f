//! Functions and procedures are named by their argument types (`public.f(integer, text)`):
//! that is how Postgres tells overloads apart, and how `DROP FUNCTION` names one.

use pg_query::protobuf::{CreateFunctionStmt, FunctionParameterMode, TypeName};
use pg_query::NodeEnum;

use super::object::{deparse, list_name};

/// `schema.name(type, ...)` with the types Postgres writes for the input arguments.
pub fn signature(function: &CreateFunctionStmt) -> String {
    format!(
        "{}({})",
        list_name(&function.funcname),
        input_types(function).join(", ")
    )
}

fn input_types(function: &CreateFunctionStmt) -> Vec<String> {
    function
        .parameters
        .iter()
        .filter_map(|p| match &p.node {
            Some(NodeEnum::FunctionParameter(p)) if is_input(p.mode) => {
                p.arg_type.as_ref().map(type_text)
            }
            _ => None,
        })
        .collect()
}

fn is_input(mode: i32) -> bool {
    ![
        FunctionParameterMode::FuncParamOut as i32,
        FunctionParameterMode::FuncParamTable as i32,
    ]
    .contains(&mode)
}

/// A type as Postgres writes it (`integer`, `character varying(20)[]`, `public.mood`).
pub fn type_text(type_name: &TypeName) -> String {
    let mut template = pg_query::parse("SELECT NULL::int", 0)
        .expect("a constant statement parses")
        .protobuf;
    let cast = template.stmts[0]
        .stmt
        .as_mut()
        .and_then(|s| match s.node.as_mut() {
            Some(NodeEnum::SelectStmt(select)) => select.target_list[0].node.as_mut(),
            _ => None,
        })
        .and_then(|target| match target {
            NodeEnum::ResTarget(target) => target.val.as_mut()?.node.as_mut(),
            _ => None,
        });
    if let Some(NodeEnum::TypeCast(cast)) = cast {
        cast.type_name = Some(type_name.clone());
    }
    let node = template.stmts[0].stmt.as_ref().and_then(|s| s.node.clone());
    node.and_then(|n| deparse(&n).ok())
        .map(|text| text.trim_start_matches("SELECT NULL::").to_string())
        .unwrap_or_default()
}

/// The statement dropping it.
pub fn drop_statement(function: &CreateFunctionStmt) -> String {
    let kind = match function.is_procedure {
        true => "PROCEDURE",
        false => "FUNCTION",
    };
    let name: Vec<String> = function
        .funcname
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(super::quote(&s.sval)),
            _ => None,
        })
        .collect();
    format!(
        "DROP {kind} {}({})",
        name.join("."),
        input_types(function).join(", ")
    )
}

/// The statement replacing it in place (`CREATE OR REPLACE`).
pub fn replace_statement(function: &CreateFunctionStmt) -> Result<String, String> {
    let mut replaced = function.clone();
    replaced.replace = true;
    deparse(&NodeEnum::CreateFunctionStmt(Box::new(replaced)))
}

/// Whether `CREATE OR REPLACE` can take `from` to `to`: same result type and argument names.
pub fn replaceable(from: &CreateFunctionStmt, to: &CreateFunctionStmt) -> bool {
    let result = |f: &CreateFunctionStmt| f.return_type.as_ref().map(type_text);
    let names = |f: &CreateFunctionStmt| -> Vec<String> {
        f.parameters
            .iter()
            .filter_map(|p| match &p.node {
                Some(NodeEnum::FunctionParameter(p)) => Some(format!("{}:{}", p.name, p.mode)),
                _ => None,
            })
            .collect()
    };
    result(from) == result(to) && names(from) == names(to)
}
