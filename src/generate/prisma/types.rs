//! Postgres column types as Prisma 7.8 introspects them: the scalar type and the `@db.` native
//! type attribute, left out where it is Prisma's default for that scalar (`Int` is `Integer`,
//! `DateTime` is `Timestamp(3)`, `Decimal` is `Decimal(65, 30)`, ...).

use super::super::introspect::ColumnInfo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Family {
    Int,
    BigInt,
    Float,
    Decimal,
    Boolean,
    String,
    DateTime,
    Json,
    Bytes,
    /// A Postgres enum of the introspected schema, by its database name.
    Enum(String),
    /// Shown as `Unsupported("...")`.
    Unsupported(String),
}

#[derive(Debug, Clone)]
pub struct ColumnType {
    pub family: Family,
    pub list: bool,
    /// `@db.` attribute without the prefix, e.g. `VarChar(40)`; None when it is the default.
    pub native: Option<String>,
}

/// `public_enums`: names of the enums Prisma shows (those of the `public` schema).
pub fn column_type(column: &ColumnInfo, public_enums: &[String]) -> ColumnType {
    // Prisma reads a domain as its base type.
    if let Some((base, format)) = &column.domain_base {
        let base_column = ColumnInfo {
            udt_name: base.clone(),
            type_name: format.clone(),
            type_kind: "b".to_string(),
            domain_base: None,
            ..column.clone()
        };
        return column_type(&base_column, public_enums);
    }
    if let Some(element) = &column.element_name {
        let element_kind = column.element_kind.as_deref().unwrap_or_default();
        let (family, native) = scalar(
            element,
            element_kind,
            &column.type_schema,
            modifiers(&column.type_name),
            public_enums,
        );
        let family = match family {
            // Prisma names an unsupported array by the array type (`_point`), then adds `[]`.
            Family::Unsupported(_) => Family::Unsupported(column.udt_name.clone()),
            other => other,
        };
        return ColumnType {
            family,
            list: true,
            native,
        };
    }
    let (family, native) = scalar(
        &column.udt_name,
        &column.type_kind,
        &column.type_schema,
        modifiers(&column.type_name),
        public_enums,
    );
    let family = match family {
        Family::Unsupported(_) => Family::Unsupported(column.type_name.clone()),
        other => other,
    };
    ColumnType {
        family,
        list: false,
        native,
    }
}

/// `(40)` of `character varying(40)`, `(10,2)` of `numeric(10,2)[]`, as numbers.
fn modifiers(type_name: &str) -> Vec<String> {
    type_name
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inner, _)| inner.split(',').map(|p| p.trim().to_string()).collect())
        .unwrap_or_default()
}

fn scalar(
    udt: &str,
    kind: &str,
    type_schema: &str,
    modifiers: Vec<String>,
    public_enums: &[String],
) -> (Family, Option<String>) {
    if kind == "e" {
        return if type_schema == "public" && public_enums.iter().any(|e| e == udt) {
            (Family::Enum(udt.to_string()), None)
        } else {
            (Family::Unsupported(udt.to_string()), None)
        };
    }
    let with = |name: &str, default: &[&str]| -> Option<String> {
        let parameters: Vec<String> = if modifiers.is_empty() {
            default.iter().map(|d| d.to_string()).collect()
        } else {
            modifiers.clone()
        };
        if parameters.is_empty() {
            Some(name.to_string())
        } else {
            Some(format!("{name}({})", parameters.join(", ")))
        }
    };
    let plain = |name: &str| Some(name.to_string());
    match udt {
        "int2" => (Family::Int, plain("SmallInt")),
        "int4" => (Family::Int, None),
        "oid" => (Family::Int, plain("Oid")),
        "int8" => (Family::BigInt, None),
        "float4" => (Family::Float, plain("Real")),
        "float8" => (Family::Float, None),
        "numeric" => {
            let mut parameters = modifiers.clone();
            if parameters.len() == 1 {
                parameters.push("0".to_string());
            }
            let native = if parameters.is_empty() {
                "Decimal".to_string()
            } else {
                format!("Decimal({})", parameters.join(", "))
            };
            (
                Family::Decimal,
                (native != "Decimal(65, 30)").then_some(native),
            )
        }
        "money" => (Family::Decimal, plain("Money")),
        "bool" => (Family::Boolean, None),
        "text" => (Family::String, None),
        "varchar" => (Family::String, with("VarChar", &[])),
        "bpchar" => (Family::String, with("Char", &["1"])),
        "uuid" => (Family::String, plain("Uuid")),
        "inet" => (Family::String, plain("Inet")),
        "citext" => (Family::String, plain("Citext")),
        "xml" => (Family::String, plain("Xml")),
        "bit" => (Family::String, with("Bit", &["1"])),
        "varbit" => (Family::String, with("VarBit", &[])),
        "timestamp" => {
            let native = with("Timestamp", &["6"]);
            (Family::DateTime, native.filter(|n| n != "Timestamp(3)"))
        }
        "timestamptz" => (Family::DateTime, with("Timestamptz", &["6"])),
        "date" => (Family::DateTime, plain("Date")),
        "time" => (Family::DateTime, with("Time", &["6"])),
        "timetz" => (Family::DateTime, with("Timetz", &["6"])),
        "json" => (Family::Json, plain("Json")),
        "jsonb" => (Family::Json, None),
        "bytea" => (Family::Bytes, None),
        _ => (Family::Unsupported(udt.to_string()), None),
    }
}
