//! `prisma`: writes schema.prisma from introspection exactly as `prisma db pull` (Prisma 7.8)
//! writes it for the same database and the same input file: names sanitized with `@map`/`@@map`,
//! native types, defaults, relations named as Prisma names them, indexes, the comments Prisma
//! adds, and on re-introspection what the user kept in the file (names, `///` docs, `@@ignore`,
//! relation field names, block order). Only the `public` schema is read, as Prisma does by default.

mod defaults;
mod previous;
mod types;
pub(super) mod views;
mod warnings;

use std::collections::HashSet;
use std::fmt::Write;

use super::introspect::{
    ColumnInfo, Constraint, EnumType, IndexInfo, Relation, RelationKind, Schema,
};
use defaults::quote;
use previous::{ConfigBlock, Previous, PreviousField, PreviousModel};
use types::{ColumnType, Family};
use warnings::Warnings;

const DEFAULT_HEADER: &str = "generator client {\n  provider = \"prisma-client\"\n  output   = \"../generated/prisma\"\n}\n\ndatasource db {\n  provider = \"postgresql\"\n}\n";
const NO_IDENTIFIER: &str = "The underlying table does not contain a valid unique identifier and can therefore currently not be handled by Prisma Client.";
const INVALID_FIELD_NAME: &str = "This field was commented out because of an invalid name. Please provide a valid one that matches [a-zA-Z][a-zA-Z0-9_]*";
const PARTITION: &str = "This table is a partition table and requires additional setup for migrations. Visit https://pris.ly/d/partition-tables for more info.";
const SUBCLASS: &str = "This table has subclasses and requires additional setup for migrations. Visit https://pris.ly/d/table-inheritance for more info.";
const CHECK: &str = "This table contains check constraints and requires additional setup for migrations. Visit https://pris.ly/d/check-constraints for more info.";
const EXCLUSION: &str = "This table contains exclusion constraints and requires additional setup for migrations. Visit https://pris.ly/d/exclusion-constraints for more info.";
const COMMENTS: &str = "This model or at least one of its fields has comments in the database, and requires an additional setup for migrations: Read more: https://pris.ly/d/database-comments";
const ROW_SECURITY: &str = "This model contains row level security and requires additional setup for migrations. Visit https://pris.ly/d/row-level-security for more info.";
const NULLS_ORDER: &str = "This model contains an index with non-default null sort order and requires additional setup for migrations. Visit https://pris.ly/d/default-index-null-ordering for more info.";
const EXPRESSION_INDEX: &str = "This model contains an expression index which requires additional setup for migrations. Visit https://pris.ly/d/expression-indexes for more info.";

/// The schema file and the warnings `prisma db pull` prints for it.
pub struct Rendered {
    pub text: String,
    pub warnings: Vec<String>,
    /// The `views/` files, when the `views` preview feature is on (None: leave `views/` alone).
    pub views: Option<Vec<views::ViewFile>>,
}

/// A name in the PSL and, when it differs, the database's (`@map`/`@@map`).
#[derive(Debug, Clone)]
struct Name {
    prisma: String,
    mapped: Option<String>,
}

/// Prisma's identifier rule: strip leading non-letters, replace other characters with `_`.
fn sanitize(name: &str) -> String {
    let start = name
        .char_indices()
        .find(|(_, c)| c.is_ascii_alphabetic())
        .map_or(name.len(), |(i, _)| i);
    name[start..]
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn needs_sanitizing(name: &str) -> bool {
    !name.starts_with(|c: char| c.is_ascii_alphabetic())
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn name_from_database(name: &str) -> Name {
    if needs_sanitizing(name) {
        Name {
            prisma: sanitize(name),
            mapped: Some(name.to_string()),
        }
    } else {
        Name {
            prisma: name.to_string(),
            mapped: None,
        }
    }
}

/// A foreign key's referenced (schema, table, columns).
type ForeignTarget = (String, String, Vec<String>);

/// One foreign key Prisma turns into a relation.
struct Fk<'a> {
    table: usize,
    referenced: usize,
    constraint: &'a Constraint,
}

struct Model<'a> {
    relation: &'a Relation,
    name: Name,
    previous: Option<&'a PreviousModel>,
    columns: Vec<Column<'a>>,
}

impl Model<'_> {
    /// A model needs a primary key or a unique index on required, supported columns.
    fn has_usable_identifier(&self) -> bool {
        self.relation.index_details.iter().any(|i| {
            (i.primary || i.unique)
                && i.parts.iter().all(|p| {
                    p.0.as_deref()
                        .and_then(|name| self.columns.iter().find(|c| c.info.name == name))
                        .is_some_and(|c| {
                            c.info.not_null
                                && !matches!(c.column_type.family, Family::Unsupported(_))
                        })
                })
        })
    }

    /// Ignored because it has no identifier, not because the file says `@@ignore`: relation
    /// fields to it get `@ignore` (only then, as Prisma does).
    fn implicitly_ignored(&self) -> bool {
        !self.has_usable_identifier() && !self.previous.is_some_and(|p| p.ignored)
    }

    fn ignored(&self, ignore: &[String]) -> bool {
        self.previous.is_some_and(|p| p.ignored)
            || ignore.iter().any(|i| i == &self.relation.name)
            || !self.has_usable_identifier()
    }
}

/// Everything about relations a model block needs.
struct Relations<'r, 'a> {
    models: &'r [Model<'a>],
    fks: &'r [Fk<'a>],
    names: &'r [[String; 3]],
    many_to_many: &'r [ManyToMany],
    ignored: &'r [bool],
}

/// An implicit many-to-many relation: the two models (sorted) and the relation's name.
struct ManyToMany {
    models: [usize; 2],
    /// Empty when it is the default `AToB`.
    name: String,
}

impl ManyToMany {
    fn new(join: &Relation, models_pair: [usize; 2], models: &[Model]) -> ManyToMany {
        let found = join.name.trim_start_matches('_');
        let default = format!(
            "{}To{}",
            models[models_pair[0]].name.prisma, models[models_pair[1]].name.prisma
        );
        ManyToMany {
            models: models_pair,
            name: if found == default && models_pair[0] != models_pair[1] {
                String::new()
            } else {
                found.to_string()
            },
        }
    }
}

/// `_AToB` with exactly columns `A` and `B`, a foreign key on each, and a unique index or
/// primary key on (A, B): returns it with the tables A and B reference.
fn join_table(table: &Relation) -> Option<(&Relation, String, String)> {
    if !table.name.starts_with('_') || table.columns.len() != 2 {
        return None;
    }
    let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    if names != ["A", "B"] {
        return None;
    }
    let target = |column: &str| {
        table
            .constraints
            .iter()
            .find(|c| c.kind == 'f' && c.columns == [column])
            .and_then(|c| c.references.as_ref())
            .filter(|r| r.0 == "public")
            .map(|r| r.1.clone())
    };
    let fk_count = table.constraints.iter().filter(|c| c.kind == 'f').count();
    let unique_ab = table.index_details.iter().any(|i| {
        (i.unique || i.primary)
            && i.parts.iter().map(|p| p.0.as_deref()).collect::<Vec<_>>() == [Some("A"), Some("B")]
    });
    (fk_count == 2 && unique_ab).then_some(())?;
    Some((table, target("A")?, target("B")?))
}

struct Column<'a> {
    info: &'a ColumnInfo,
    name: Name,
    column_type: ColumnType,
    previous: Option<&'a PreviousField>,
}

struct Context<'a> {
    previous: &'a Previous,
    enums: Vec<(&'a EnumType, Name)>,
    public_enums: Vec<String>,
    /// The PSL names of the views shown: relation fields to them exist only in the file.
    view_names: Vec<String>,
    /// The PSL names of the models shown.
    model_names: Vec<String>,
    warnings: Warnings,
}

/// The new schema file for `schema`, given the `existing` file (None: Prisma 7 defaults).
pub fn render(schema: &Schema, existing: Option<&str>, ignore: &[String]) -> Rendered {
    let existing = existing.filter(|text| text.contains("datasource"));
    let previous = Previous::parse(existing.unwrap_or(DEFAULT_HEADER));
    let public_enums = public_enums(schema);
    let mut context = Context {
        public_enums: public_enums.iter().map(|e| e.name.clone()).collect(),
        enums: enum_names(&previous, &public_enums),
        previous: &previous,
        view_names: Vec::new(),
        model_names: Vec::new(),
        warnings: Warnings::default(),
    };
    let views_enabled = views_enabled(&previous.config);
    let (tables, join_tables) = shown_tables(schema);
    let mut views: Vec<&Relation> = schema
        .relations
        .iter()
        .filter(|r| r.schema == "public" && r.kind == RelationKind::View && views_enabled)
        .collect();
    views.sort_by_key(|v| v.oid);

    let models: Vec<Model> = tables.iter().map(|t| context.model(t, false)).collect();
    let view_models: Vec<Model> = views.iter().map(|v| context.model(v, true)).collect();
    context.view_names = view_models.iter().map(|v| v.name.prisma.clone()).collect();
    context.model_names = models.iter().map(|m| m.name.prisma.clone()).collect();
    let (blocks, partial_indexes) = context.model_blocks(&models, &join_tables, ignore);
    let mut view_blocks: Vec<(Option<usize>, String)> = view_models
        .iter()
        .map(|view| {
            (
                context.previous.model_position(&view.relation.name, true),
                context.render_view(view),
            )
        })
        .collect();
    let mut enum_blocks: Vec<(Option<usize>, String)> = context
        .enums
        .iter()
        .map(|(e, name)| {
            (
                context.previous.enum_position(&e.name),
                context.render_enum(e, name),
            )
        })
        .collect();
    for list in [&mut view_blocks, &mut enum_blocks] {
        list.sort_by_key(|(position, _)| position.unwrap_or(usize::MAX));
    }

    let mut out = render_config(&context.previous.config, partial_indexes);
    for (_, block) in blocks.iter().chain(&view_blocks).chain(&enum_blocks) {
        out.push('\n');
        out.push_str(block);
    }
    Rendered {
        text: out,
        warnings: context.warnings.lines(),
        views: views_enabled.then(|| view_files(&view_models)),
    }
}

/// The enums of `public`, sorted by name.
fn public_enums(schema: &Schema) -> Vec<&EnumType> {
    let mut enums: Vec<&EnumType> = schema
        .enums
        .iter()
        .filter(|e| e.schema == "public")
        .collect();
    enums.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    enums
}

/// Each enum with its PSL name: the file's, else one made from the database's.
fn enum_names<'a>(previous: &Previous, enums: &[&'a EnumType]) -> Vec<(&'a EnumType, Name)> {
    enums
        .iter()
        .map(|e| {
            let name = match previous.enum_type(&e.name) {
                Some(p) => Name {
                    prisma: p.name.clone(),
                    mapped: p.mapped.clone(),
                },
                None => name_from_database(&e.name),
            };
            (*e, name)
        })
        .collect()
}

/// The `views` preview feature is on in a generator block.
fn views_enabled(config: &[ConfigBlock]) -> bool {
    config.iter().any(|b| {
        b.kind == "generator"
            && b.properties
                .iter()
                .any(|(k, v)| k == "previewFeatures" && v.contains("\"views\""))
    })
}

/// The tables of `public` shown as models (sorted by name; partitions are reached through their
/// parent), and Prisma's implicit many-to-many join tables (`_AToB`), which become list fields
/// instead, with the tables they join.
fn shown_tables(schema: &Schema) -> (Vec<&Relation>, Vec<(&Relation, String, String)>) {
    let mut tables: Vec<&Relation> = schema
        .relations
        .iter()
        .filter(|r| {
            r.schema == "public"
                && r.partition_of.is_none()
                && matches!(r.kind, RelationKind::Table | RelationKind::PartitionedTable)
        })
        .collect();
    tables.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let join_tables: Vec<(&Relation, String, String)> =
        tables.iter().filter_map(|t| join_table(t)).collect();
    tables.retain(|t| !join_tables.iter().any(|(j, _, _)| std::ptr::eq(*j, *t)));
    (tables, join_tables)
}

/// The `views/` files of the views shown.
fn view_files(view_models: &[Model]) -> Vec<views::ViewFile> {
    view_models
        .iter()
        .filter_map(|v| {
            let query = v.relation.view_query.as_deref()?;
            Some(views::view_file("public", &v.name.prisma, query))
        })
        .collect()
}

/// The generator and datasource blocks, re-rendered as Prisma does (aligned, comments dropped),
/// with `partialIndexes` added to the preview features when a partial index is shown.
fn render_config(blocks: &[ConfigBlock], partial_indexes: bool) -> String {
    let mut out = String::new();
    for (index, block) in blocks.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let mut properties = block.properties.clone();
        // Prisma's engine writes the preview features it parsed in its own (alphabetical)
        // order; the CLI then appends `partialIndexes` when it shows a partial index.
        if let Some((_, value)) = properties.iter_mut().find(|(k, _)| k == "previewFeatures") {
            let mut features: Vec<&str> = value
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .collect();
            features.sort_unstable();
            features.dedup();
            *value = format!("[{}]", features.join(", "));
        }
        if block.kind == "generator" && partial_indexes {
            match properties.iter_mut().find(|(k, _)| k == "previewFeatures") {
                Some((_, value)) if !value.contains("\"partialIndexes\"") => {
                    let inner = value.trim_start_matches('[').trim_end_matches(']').trim();
                    *value = if inner.is_empty() {
                        "[\"partialIndexes\"]".to_string()
                    } else {
                        format!("[{inner}, \"partialIndexes\"]")
                    };
                }
                Some(_) => {}
                None => properties.push(("previewFeatures".into(), "[\"partialIndexes\"]".into())),
            }
        }
        let width = properties.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let _ = writeln!(out, "{} {} {{", block.kind, block.name);
        for (key, value) in &properties {
            let _ = writeln!(out, "  {key:<width$} = {value}");
        }
        out.push_str("}\n");
    }
    out
}

fn foreign_keys<'a>(models: &[Model<'a>]) -> Vec<Fk<'a>> {
    let mut fks = Vec::new();
    for (table, model) in models.iter().enumerate() {
        let mut constraints: Vec<&Constraint> = model
            .relation
            .constraints
            .iter()
            .filter(|c| c.kind == 'f')
            .collect();
        constraints.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        let mut seen: Vec<(&Vec<String>, &ForeignTarget)> = Vec::new();
        for constraint in constraints {
            let Some(references) = &constraint.references else {
                continue;
            };
            let Some(referenced) = models
                .iter()
                .position(|m| references.0 == "public" && m.relation.name == references.1)
            else {
                continue;
            };
            // Two constraints on the same columns to the same columns make one relation.
            if seen
                .iter()
                .any(|(columns, r)| **columns == constraint.columns && *r == references)
            {
                continue;
            }
            seen.push((&constraint.columns, references));
            fks.push(Fk {
                table,
                referenced,
                constraint,
            });
        }
    }
    fks
}

/// Per foreign key: [relation name, forward field name, back field name], as Prisma names them.
fn relation_names(models: &[Model], fks: &[Fk]) -> Vec<[String; 3]> {
    let pair = |fk: &Fk| {
        let mut p = [fk.table, fk.referenced];
        p.sort();
        p
    };
    let column_prisma = |table: usize, column: &str| field_name(models, table, column);
    let mut ambiguous: HashSet<[usize; 2]> = HashSet::new();
    for fk in fks {
        let tables = pair(fk);
        if ambiguous.contains(&tables) {
            continue;
        }
        let distinct_other = fks.iter().any(|other| {
            !std::ptr::eq(other, fk)
                && (other.table == fk.table || other.table == fk.referenced)
                && other.constraint.columns != fk.constraint.columns
                && pair(other) == tables
        });
        let referenced_name = &models[fk.referenced].name.prisma;
        let clashes = fk
            .constraint
            .columns
            .iter()
            .any(|c| &column_prisma(fk.table, c) == referenced_name);
        if distinct_other || clashes {
            ambiguous.insert(tables);
        }
    }
    fks.iter()
        .map(|fk| {
            let referencing = &models[fk.table].name.prisma;
            let referenced = &models[fk.referenced].name.prisma;
            let self_relation = fk.table == fk.referenced;
            let other = if self_relation { "other_" } else { "" };
            if ambiguous.contains(&pair(fk)) {
                let columns: Vec<String> = fk
                    .constraint
                    .columns
                    .iter()
                    .map(|c| column_prisma(fk.table, c))
                    .collect();
                let name = format!("{referencing}_{}To{referenced}", columns.join("_"));
                [
                    name.clone(),
                    format!("{referenced}_{name}"),
                    format!("{other}{referencing}_{name}"),
                ]
            } else {
                [
                    if self_relation {
                        format!("{referencing}To{referenced}")
                    } else {
                        String::new()
                    },
                    referenced.clone(),
                    format!("{other}{referencing}"),
                ]
            }
        })
        .collect()
}

fn action(code: char) -> &'static str {
    match code {
        'r' => "Restrict",
        'c' => "Cascade",
        'n' => "SetNull",
        'd' => "SetDefault",
        _ => "NoAction",
    }
}

/// Lines of a block, aligned as `prisma format` aligns them: name, type, attributes.
struct Fields {
    lines: Vec<FieldLine>,
}

enum FieldLine {
    Field {
        docs: Vec<String>,
        name: String,
        field_type: String,
        attributes: Vec<String>,
    },
    /// A field Prisma writes commented out (`// name Type ...`), not aligned.
    Commented { docs: Vec<String>, text: String },
}

impl FieldLine {
    fn ignore(&mut self) {
        if let FieldLine::Field { attributes, .. } = self {
            if !attributes.iter().any(|a| a == "@ignore") {
                attributes.push("@ignore".to_string());
            }
        }
    }
}

impl Fields {
    fn render(&self, out: &mut String) {
        let fields = self.lines.iter().filter_map(|l| match l {
            FieldLine::Field {
                name, field_type, ..
            } => Some((name.len(), field_type.len())),
            FieldLine::Commented { .. } => None,
        });
        let (name_width, type_width) = fields.fold((0, 0), |(n, t), (a, b)| (n.max(a), t.max(b)));
        for line in &self.lines {
            match line {
                FieldLine::Field {
                    docs,
                    name,
                    field_type,
                    attributes,
                } => {
                    for doc in docs {
                        let _ = writeln!(out, "  /// {doc}");
                    }
                    let text = format!(
                        "  {name:<name_width$} {field_type:<type_width$} {}",
                        attributes.join(" ")
                    );
                    out.push_str(text.trim_end());
                    out.push('\n');
                }
                FieldLine::Commented { docs, text } => {
                    for doc in docs {
                        let _ = writeln!(out, "  /// {doc}");
                    }
                    let _ = writeln!(out, "  // {text}");
                }
            }
        }
    }
}

fn render_docs(out: &mut String, docs: &[String]) {
    for doc in docs {
        for line in doc.lines() {
            let _ = writeln!(out, "/// {line}");
        }
    }
}

fn push_doc(docs: &mut Vec<String>, doc: &str) {
    if !docs.iter().any(|d| d.contains(doc)) {
        docs.push(doc.to_string());
    }
}

impl<'a> Context<'a> {
    fn model(&self, relation: &'a Relation, is_view: bool) -> Model<'a> {
        let previous: Option<&'a PreviousModel> = self.previous.model(&relation.name, is_view);
        let name = match previous {
            Some(p) => Name {
                prisma: p.name.clone(),
                mapped: p.mapped.clone(),
            },
            None => name_from_database(&relation.name),
        };
        let columns = relation
            .columns
            .iter()
            .map(|info| {
                let previous_field = previous.and_then(|p| {
                    p.fields
                        .iter()
                        .find(|f| f.relation.is_none() && f.database_name() == info.name)
                });
                let name = match previous_field {
                    Some(f) => Name {
                        prisma: f.name.clone(),
                        mapped: f.mapped.clone(),
                    },
                    None => name_from_database(&info.name),
                };
                Column {
                    info,
                    name,
                    column_type: types::column_type(info, &self.public_enums),
                    previous: previous_field,
                }
            })
            .collect();
        Model {
            relation,
            name,
            previous,
            columns,
        }
    }

    fn enum_prisma_name(&self, database_name: &str) -> String {
        self.enums
            .iter()
            .find(|(e, _)| e.name == database_name)
            .map_or_else(|| sanitize(database_name), |(_, n)| n.prisma.clone())
    }

    /// The PSL name of value `value` of enum `enum_name` (both database names).
    fn enum_value_name(&self, enum_name: &str, value: &str) -> Option<String> {
        let (enum_type, _) = self.enums.iter().find(|(e, _)| e.name == enum_name)?;
        if !enum_type.labels.iter().any(|l| l == value) {
            return None;
        }
        let previous = self.previous.enum_type(enum_name).and_then(|p| {
            p.values
                .iter()
                .find(|(name, mapped)| mapped.as_deref().unwrap_or(name) == value)
        });
        Some(match previous {
            Some((name, _)) => name.clone(),
            None if value.is_empty() => "EMPTY_ENUM_VALUE".to_string(),
            None => name_from_database(value).prisma,
        })
    }

    fn type_text(&self, column: &Column, in_view: bool) -> String {
        let ColumnType { family, list, .. } = &column.column_type;
        // A view's columns are all nullable in the catalog; Prisma keeps the arity the file
        // gives a view field (required or list) instead.
        let kept = column.previous.filter(|_| in_view && !column.info.not_null);
        let (list, required) = match kept {
            Some(p) if p.required() => (&false, true),
            Some(p) if p.list() => (&true, false),
            _ => (list, column.info.not_null),
        };
        let base = match family {
            Family::Int => "Int".to_string(),
            Family::BigInt => "BigInt".to_string(),
            Family::Float => "Float".to_string(),
            Family::Decimal => "Decimal".to_string(),
            Family::Boolean => "Boolean".to_string(),
            Family::String => "String".to_string(),
            Family::DateTime => "DateTime".to_string(),
            Family::Json => "Json".to_string(),
            Family::Bytes => "Bytes".to_string(),
            Family::Enum(name) => self.enum_prisma_name(name),
            Family::Unsupported(name) => format!("Unsupported({})", quote(name)),
        };
        if *list {
            format!("{base}[]")
        } else if required {
            base
        } else {
            format!("{base}?")
        }
    }

    fn scalar_line(
        &mut self,
        model: &Model,
        column: &Column,
        single_pk: Option<&IndexInfo>,
        single_unique: Option<&IndexInfo>,
    ) -> FieldLine {
        let attributes = self.scalar_attributes(model, column, single_pk, single_unique);
        let mut docs = column.previous.map(|p| p.docs.clone()).unwrap_or_default();
        let field_type = self.type_text(column, model.relation.kind == RelationKind::View);
        if let Family::Unsupported(name) = &column.column_type.family {
            self.warnings.unsupported.push((
                model.name.prisma.clone(),
                column.name.prisma.clone(),
                name.clone(),
            ));
        }
        if column.info.comment.is_some() && column.previous.is_none() {
            self.warnings.comments.push((
                "field".to_string(),
                format!("{}.{}", model.name.prisma, column.name.prisma),
            ));
        }
        if column.name.prisma.is_empty() {
            push_doc(&mut docs, INVALID_FIELD_NAME);
            self.warnings
                .commented_fields
                .push((model.name.prisma.clone(), column.info.name.clone()));
            return FieldLine::Commented {
                docs,
                text: format!("{} {field_type} {}", column.info.name, attributes.join(" "))
                    .trim_end()
                    .to_string(),
            };
        }
        FieldLine::Field {
            docs,
            name: column.name.prisma.clone(),
            field_type,
            attributes,
        }
    }

    /// A scalar field's attributes, in Prisma's order.
    fn scalar_attributes(
        &mut self,
        model: &Model,
        column: &Column,
        single_pk: Option<&IndexInfo>,
        single_unique: Option<&IndexInfo>,
    ) -> Vec<String> {
        let table = &model.relation.name;
        let mut attributes = Vec::new();
        if column.previous.is_some_and(|p| p.updated_at) {
            attributes.push("@updatedAt".to_string());
        }
        if model.relation.kind == RelationKind::View {
            if let Some(unique) = column.previous.and_then(|p| p.unique.clone()) {
                attributes.push(unique);
            }
        }
        if let Some(unique) = single_unique {
            attributes.push(unique_attribute(table, column, unique));
        }
        if let Some(pk) = single_pk {
            let default = format!("{table}_pkey");
            attributes.push(if pk.name == default {
                "@id".to_string()
            } else {
                format!("@id(map: {})", quote(&pk.name))
            });
        }
        if let Some(default) = self.default_text(column) {
            attributes.push(format!("@default({default})"));
        }
        if let Some(mapped) = &column.name.mapped {
            attributes.push(format!("@map({})", quote(mapped)));
            if column.previous.is_some_and(|p| p.mapped.is_some()) {
                let list = if model.relation.kind == RelationKind::View {
                    &mut self.warnings.mapped_view_fields
                } else {
                    &mut self.warnings.mapped_model_fields
                };
                list.push((model.name.prisma.clone(), column.name.prisma.clone()));
            }
        }
        if let Some(native) = &column.column_type.native {
            attributes.push(format!("@db.{native}"));
        }
        if column.previous.is_some_and(|p| p.ignored) {
            attributes.push("@ignore".to_string());
        }
        attributes
    }

    /// The column's `@default`: from the database, else a client-side default the file gives
    /// a text column without one (`cuid()`, `uuid()`, ...).
    fn default_text(&self, column: &Column) -> Option<String> {
        let enum_value = |name: &str, value: &str| self.enum_value_name(name, value);
        let kept_default = column
            .previous
            .filter(|_| {
                column.info.default.is_none() && column.column_type.family == Family::String
            })
            .and_then(PreviousField::client_generated_default)
            .map(str::to_string);
        defaults::default_value(column.info, &column.column_type, &enum_value).or(kept_default)
    }

    /// The model blocks, each with its position in the file (None: new), in the order they are
    /// written; and whether one shows a partial index.
    fn model_blocks(
        &mut self,
        models: &[Model],
        join_tables: &[(&Relation, String, String)],
        ignore: &[String],
    ) -> (Vec<(Option<usize>, String)>, bool) {
        let foreign_keys = foreign_keys(models);
        let relation_names = relation_names(models, &foreign_keys);
        let many_to_many: Vec<ManyToMany> = join_tables
            .iter()
            .filter_map(|(join, a, b)| {
                let a = models.iter().position(|m| &m.relation.name == a)?;
                let b = models.iter().position(|m| &m.relation.name == b)?;
                Some(ManyToMany::new(join, [a.min(b), a.max(b)], models))
            })
            .collect();
        let ignored: Vec<bool> = models.iter().map(|m| m.ignored(ignore)).collect();
        let relations = Relations {
            models,
            fks: &foreign_keys,
            names: &relation_names,
            many_to_many: &many_to_many,
            ignored: &ignored,
        };
        let mut blocks = Vec::new();
        let mut partial_indexes = false;
        for (index, model) in models.iter().enumerate() {
            let (text, partial) = self.render_model(index, model, &relations);
            partial_indexes |= partial;
            blocks.push((
                self.previous.model_position(&model.relation.name, false),
                text,
            ));
        }
        blocks.sort_by_key(|(position, _)| position.unwrap_or(usize::MAX));
        (blocks, partial_indexes)
    }

    /// One `model` block, and whether it shows a partial index (which needs the
    /// `partialIndexes` preview feature).
    fn render_model(
        &mut self,
        index: usize,
        model: &Model,
        relations: &Relations,
    ) -> (String, bool) {
        let ignored = relations.ignored[index];
        let docs = self.model_docs(model);
        let mut fields = Fields { lines: Vec::new() };
        self.scalar_fields(model, &mut fields);
        self.relation_fields(index, model, relations, &mut fields);
        many_to_many_fields(index, model, relations, &mut fields);
        let copied = self.emulated_relation_fields(model, &self.view_names);
        if !copied.is_empty() {
            self.warnings
                .copied_relations_models
                .push(model.name.prisma.clone());
        }
        fields.lines.extend(copied);
        let (block, partial) = block_attributes(index, model, relations.models, ignored);
        (write_block("model", &docs, model, &fields, block), partial)
    }

    /// The `///` docs of a model: the file's, then what Prisma adds to a new model (in Prisma's
    /// order), with the warnings that go with them.
    fn model_docs(&mut self, model: &Model) -> Vec<String> {
        let mut docs = model.previous.map(|p| p.docs.clone()).unwrap_or_default();
        if model.previous.is_none() {
            self.setup_docs(model, &mut docs);
        }
        if !model.has_usable_identifier() && !model.previous.is_some_and(|p| p.ignored) {
            push_doc(&mut docs, NO_IDENTIFIER);
            self.warnings.ignored_models.push(model.name.prisma.clone());
        }
        if model.previous.is_none() {
            self.comment_docs(model, &mut docs);
        }
        if model.previous.is_some_and(|p| p.mapped.is_some()) {
            self.warnings.mapped_models.push(model.name.prisma.clone());
        }
        if model.relation.row_security && model.previous.is_none() {
            push_doc(&mut docs, ROW_SECURITY);
            self.warnings.row_security.push(model.relation.name.clone());
        }
        self.index_docs(model, &mut docs);
        docs
    }

    /// A new model's partitioning, inheritance, check and exclusion constraints, which
    /// migrations cannot express.
    fn setup_docs(&mut self, model: &Model, docs: &mut Vec<String>) {
        let relation = model.relation;
        if relation.kind == RelationKind::PartitionedTable {
            push_doc(docs, PARTITION);
            self.warnings.partitions.push(relation.name.clone());
        }
        if relation.has_subclass {
            push_doc(docs, SUBCLASS);
            self.warnings.inherited.push(relation.name.clone());
        }
        let of_kind = |kind: char| -> Vec<&Constraint> {
            relation
                .constraints
                .iter()
                .filter(|c| c.kind == kind)
                .collect()
        };
        let checks = of_kind('c');
        if !checks.is_empty() {
            push_doc(docs, CHECK);
            for check in checks {
                self.warnings
                    .checks
                    .push((model.name.prisma.clone(), check.name.clone()));
            }
        }
        let exclusions = of_kind('x');
        if !exclusions.is_empty() {
            push_doc(docs, EXCLUSION);
            for exclusion in exclusions {
                self.warnings
                    .exclusions
                    .push((model.name.prisma.clone(), exclusion.name.clone()));
            }
        }
    }

    /// A new model with a comment on it or on a new column.
    fn comment_docs(&mut self, model: &Model, docs: &mut Vec<String>) {
        let column_comments = model
            .columns
            .iter()
            .any(|c| c.info.comment.is_some() && c.previous.is_none());
        if model.relation.comment.is_some() || column_comments {
            push_doc(docs, COMMENTS);
            if model.relation.comment.is_some() {
                self.warnings
                    .comments
                    .push(("model".to_string(), model.name.prisma.clone()));
            }
        }
    }

    /// Indexes with a non-default null order, and expression indexes.
    fn index_docs(&mut self, model: &Model, docs: &mut Vec<String>) {
        let indexes = &model.relation.index_details;
        for i in indexes {
            for (column, descending, nulls_first) in &i.parts {
                if nulls_first != descending {
                    push_doc(docs, NULLS_ORDER);
                    let column = column.as_deref().unwrap_or_default();
                    self.warnings
                        .null_orders
                        .push((i.name.clone(), column.to_string()));
                }
            }
        }
        let expression_indexes: Vec<&IndexInfo> =
            indexes.iter().filter(|i| is_expression(i)).collect();
        if !expression_indexes.is_empty() {
            push_doc(docs, EXPRESSION_INDEX);
            for i in expression_indexes {
                self.warnings
                    .expression_indexes
                    .push((model.name.prisma.clone(), i.name.clone()));
            }
        }
    }

    /// A line per column, with its single-column primary key and unique index.
    fn scalar_fields(&mut self, model: &Model, fields: &mut Fields) {
        let indexes = &model.relation.index_details;
        let primary = indexes.iter().find(|i| i.primary);
        for column in &model.columns {
            let only = |i: &&IndexInfo| {
                i.parts.len() == 1 && i.parts[0].0.as_deref() == Some(column.info.name.as_str())
            };
            let single_pk = primary.filter(only);
            let mut singles: Vec<&IndexInfo> = indexes
                .iter()
                .filter(|i| i.unique && !i.primary)
                .filter(only)
                .collect();
            singles.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
            let line = self.scalar_line(model, column, single_pk, singles.first().copied());
            fields.lines.push(line);
        }
    }

    /// The forward and back fields of the foreign keys from and to model `index`; a relation
    /// field to an ignored model is ignored too.
    fn relation_fields(
        &self,
        index: usize,
        model: &Model,
        relations: &Relations,
        fields: &mut Fields,
    ) {
        let models = relations.models;
        let ignored = relations.ignored[index];
        let column_name = |table: usize, column: &str| field_name(models, table, column);
        for (fk, names) in relations.fks.iter().zip(relations.names) {
            if fk.table == index {
                let mut line = self.forward_field(model, models, fk, names, &column_name);
                if models[fk.referenced].implicitly_ignored() && !ignored {
                    line.ignore();
                }
                fields.lines.push(line);
            }
            if fk.referenced == index {
                let mut line = self.back_field(models, fk, names);
                if models[fk.table].implicitly_ignored() && !ignored {
                    line.ignore();
                }
                fields.lines.push(line);
            }
        }
    }

    fn forward_field(
        &self,
        model: &Model,
        models: &[Model],
        fk: &Fk,
        names: &[String; 3],
        column_name: &dyn Fn(usize, &str) -> String,
    ) -> FieldLine {
        let constraint = fk.constraint;
        let (_, _, referenced_columns) = constraint.references.as_ref().expect("a foreign key");
        let target = &models[fk.referenced];
        let previous = self.previous_forward(model, target, fk, column_name);
        let optional = constraint.columns.iter().any(|c| {
            model
                .columns
                .iter()
                .any(|col| &col.info.name == c && !col.info.not_null)
        });
        let relation_name = match &previous {
            Some((_, Some(name))) => name.clone(),
            Some((_, None)) => String::new(),
            None => names[0].clone(),
        };
        let mut arguments = Vec::new();
        if !relation_name.is_empty() {
            arguments.push(quote(&relation_name));
        }
        let fields: Vec<String> = constraint
            .columns
            .iter()
            .map(|c| column_name(fk.table, c))
            .collect();
        let references: Vec<String> = referenced_columns
            .iter()
            .map(|c| column_name(fk.referenced, c))
            .collect();
        arguments.push(format!("fields: [{}]", fields.join(", ")));
        arguments.push(format!("references: [{}]", references.join(", ")));
        let default_delete = if optional { 'n' } else { 'r' };
        if constraint.on_delete != default_delete {
            arguments.push(format!("onDelete: {}", action(constraint.on_delete)));
        }
        if constraint.on_update != 'c' {
            arguments.push(format!("onUpdate: {}", action(constraint.on_update)));
        }
        let default_name = format!(
            "{}_{}_fkey",
            model.relation.name,
            constraint.columns.join("_")
        );
        if constraint.name != default_name {
            arguments.push(format!("map: {}", quote(&constraint.name)));
        }
        let (field_name, docs, ignored) = match previous {
            Some((field, _)) => (field.name.clone(), field.docs.clone(), false),
            None => (names[1].clone(), Vec::new(), false),
        };
        let mut attributes = vec![format!("@relation({})", arguments.join(", "))];
        if ignored {
            attributes.push("@ignore".to_string());
        }
        FieldLine::Field {
            docs,
            name: field_name,
            field_type: format!("{}{}", target.name.prisma, if optional { "?" } else { "" }),
            attributes,
        }
    }

    /// The user's forward relation field for `fk` in the previous file, and its relation name.
    fn previous_forward(
        &self,
        model: &Model<'a>,
        target: &Model,
        fk: &Fk,
        column_name: &dyn Fn(usize, &str) -> String,
    ) -> Option<(&'a PreviousField, Option<String>)> {
        let previous = model.previous?;
        let fields: Vec<String> = fk
            .constraint
            .columns
            .iter()
            .map(|c| column_name(fk.table, c))
            .collect();
        let field = previous.fields.iter().find(|f| {
            f.type_name == target.name.prisma
                && f.relation.as_ref().is_some_and(|r| r.fields == fields)
        })?;
        let name = field.relation.as_ref().and_then(|r| r.name.clone());
        Some((field, name))
    }

    fn back_field(&self, models: &[Model], fk: &Fk, names: &[String; 3]) -> FieldLine {
        let referencing = &models[fk.table];
        let target = &models[fk.referenced];
        let one_to_one = referencing.relation.index_details.iter().any(|i| {
            (i.primary || i.unique) && {
                let mut columns: Vec<&str> =
                    i.parts.iter().filter_map(|p| p.0.as_deref()).collect();
                let mut fk_columns: Vec<&str> =
                    fk.constraint.columns.iter().map(String::as_str).collect();
                columns.sort();
                fk_columns.sort();
                columns == fk_columns && i.parts.len() == fk_columns.len()
            }
        });
        // The user's back field: in the referenced model, of the referencing model's type,
        // with the same relation name as the forward field.
        let forward_name = referencing.previous.and_then(|p| {
            p.fields
                .iter()
                .find(|f| {
                    f.type_name == target.name.prisma
                        && f.relation.as_ref().is_some_and(|r| {
                            r.fields
                                == fk
                                    .constraint
                                    .columns
                                    .iter()
                                    .map(|c| field_name(models, fk.table, c))
                                    .collect::<Vec<_>>()
                        })
                })
                .map(|f| f.relation.as_ref().and_then(|r| r.name.clone()))
        });
        let previous_back = forward_name.as_ref().and_then(|name| {
            target.previous?.fields.iter().find(|f| {
                f.type_name == referencing.name.prisma
                    && f.relation
                        .as_ref()
                        .map_or(name.is_none(), |r| r.fields.is_empty() && r.name == *name)
                    && (f.relation.is_some() || name.is_none())
            })
        });
        let relation_name = match &forward_name {
            Some(name) => name.clone().unwrap_or_default(),
            None => names[0].clone(),
        };
        let (field_name, docs, ignored) = match previous_back {
            Some(field) => (field.name.clone(), field.docs.clone(), false),
            None => (names[2].clone(), Vec::new(), false),
        };
        let field_type = if one_to_one {
            format!("{}?", referencing.name.prisma)
        } else {
            format!("{}[]", referencing.name.prisma)
        };
        let mut attributes = Vec::new();
        if !relation_name.is_empty() {
            attributes.push(format!("@relation({})", quote(&relation_name)));
        }
        if ignored {
            attributes.push("@ignore".to_string());
        }
        FieldLine::Field {
            docs,
            name: field_name,
            field_type,
            attributes,
        }
    }

    /// Relation fields the file gives `model` towards `targets` (views, which have no foreign
    /// keys): Prisma copies them from the previous schema as they were written.
    fn emulated_relation_fields(&self, model: &Model, targets: &[String]) -> Vec<FieldLine> {
        let Some(previous) = model.previous else {
            return Vec::new();
        };
        previous
            .fields
            .iter()
            .filter(|f| targets.contains(&f.type_name))
            .filter(|f| {
                !model
                    .columns
                    .iter()
                    .any(|c| c.info.name == f.database_name())
            })
            .map(|f| FieldLine::Field {
                docs: f.docs.clone(),
                name: f.name.clone(),
                field_type: f.field_type.clone(),
                attributes: if f.attributes.is_empty() {
                    Vec::new()
                } else {
                    vec![f.attributes.clone()]
                },
            })
            .collect()
    }

    fn render_view(&mut self, view: &Model) -> String {
        let docs = view.previous.map(|p| p.docs.clone()).unwrap_or_default();
        if view.previous.is_some_and(|p| p.mapped.is_some()) {
            self.warnings.mapped_views.push(view.name.prisma.clone());
        }
        let mut fields = Fields { lines: Vec::new() };
        for column in &view.columns {
            let line = self.scalar_line(view, column, None, None);
            fields.lines.push(line);
        }
        let targets: Vec<String> = self
            .model_names
            .iter()
            .chain(&self.view_names)
            .cloned()
            .collect();
        let copied = self.emulated_relation_fields(view, &targets);
        if !copied.is_empty() {
            self.warnings
                .copied_relations_views
                .push(view.name.prisma.clone());
        }
        fields.lines.extend(copied);
        let mut block: Vec<String> = view.previous.map(|p| p.indexes.clone()).unwrap_or_default();
        if let Some(mapped) = &view.name.mapped {
            block.push(format!("@@map({})", quote(mapped)));
        }
        if view.previous.is_some_and(|p| p.ignored) {
            block.push("@@ignore".to_string());
        }
        write_block("view", &docs, view, &fields, block)
    }

    fn render_enum(&self, enum_type: &EnumType, name: &Name) -> String {
        let mut out = String::new();
        let previous = self.previous.enum_type(&enum_type.name);
        render_docs(
            &mut out,
            &previous.map(|p| p.docs.clone()).unwrap_or_default(),
        );
        let values: Vec<(String, Option<String>)> = enum_type
            .labels
            .iter()
            .map(|label| {
                let prisma = self
                    .enum_value_name(&enum_type.name, label)
                    .unwrap_or_else(|| sanitize(label));
                let mapped = (prisma != *label).then(|| label.clone());
                (prisma, mapped)
            })
            .collect();
        let width = values.iter().map(|(v, _)| v.len()).max().unwrap_or(0);
        let _ = writeln!(out, "enum {} {{", name.prisma);
        for (value, mapped) in &values {
            let line = match mapped {
                Some(m) => format!("  {value:<width$} @map({})", quote(m)),
                None => format!("  {value}"),
            };
            out.push_str(line.trim_end());
            out.push('\n');
        }
        if let Some(mapped) = &name.mapped {
            let _ = write!(out, "\n  @@map({})\n", quote(mapped));
        }
        out.push_str("}\n");
        out
    }
}

/// `@unique` of a column with its own unique index: the name, sort and predicate Prisma shows.
fn unique_attribute(table: &str, column: &Column, unique: &IndexInfo) -> String {
    let default = format!("{table}_{}_key", column.info.name);
    let mut arguments = Vec::new();
    if unique.name != default {
        arguments.push(format!("map: {}", quote(&unique.name)));
    }
    if unique
        .parts
        .first()
        .is_some_and(|(_, descending, _)| *descending)
    {
        arguments.push("sort: Desc".to_string());
    }
    if let Some(predicate) = &unique.predicate {
        arguments.push(format!("where: raw({})", quote(predicate)));
    }
    if arguments.is_empty() {
        "@unique".to_string()
    } else {
        format!("@unique({})", arguments.join(", "))
    }
}

/// An index with an expression for a key part.
fn is_expression(index: &IndexInfo) -> bool {
    index.parts.iter().any(|p| p.0.is_none())
}

/// The PSL name of column `column` of model `table` (the database name if it has none).
fn field_name(models: &[Model], table: usize, column: &str) -> String {
    models[table]
        .columns
        .iter()
        .find(|c| c.info.name == column)
        .map_or_else(|| column.to_string(), |c| c.name.prisma.clone())
}

/// The list fields of the implicit many-to-many relations of model `index` (one for a
/// relation of a model with itself).
fn many_to_many_fields(index: usize, model: &Model, relations: &Relations, fields: &mut Fields) {
    let models = relations.models;
    for relation in relations.many_to_many {
        for (side, other) in [(0, 1), (1, 0)] {
            if relation.models[side] != index {
                continue;
            }
            let other_model = &models[relation.models[other]];
            let name = kept_many_to_many_name(model, other_model, relation, models)
                .unwrap_or_else(|| relation.name.clone());
            let attributes = if name.is_empty() {
                Vec::new()
            } else {
                vec![format!("@relation({})", quote(&name))]
            };
            fields.lines.push(FieldLine::Field {
                docs: Vec::new(),
                name: other_model.name.prisma.clone(),
                field_type: format!("{}[]", other_model.name.prisma),
                attributes,
            });
            if relation.models[0] == relation.models[1] {
                break;
            }
        }
    }
}

/// The relation name of a many-to-many field the file keeps: Prisma then names the relation
/// explicitly (`AToB` by default).
fn kept_many_to_many_name(
    model: &Model,
    other_model: &Model,
    relation: &ManyToMany,
    models: &[Model],
) -> Option<String> {
    let field = model.previous?.fields.iter().find(|f| {
        f.type_name == other_model.name.prisma
            && f.relation.as_ref().is_none_or(|r| r.fields.is_empty())
    })?;
    Some(
        field
            .relation
            .as_ref()
            .and_then(|r| r.name.clone())
            .unwrap_or_else(|| {
                format!(
                    "{}To{}",
                    models[relation.models[0]].name.prisma, models[relation.models[1]].name.prisma
                )
            }),
    )
}

/// A model's block attributes (`@@id`, `@@unique`, `@@index`, `@@map`, `@@ignore`), and
/// whether a partial index is shown.
fn block_attributes(
    index: usize,
    model: &Model,
    models: &[Model],
    ignored: bool,
) -> (Vec<String>, bool) {
    let relation = model.relation;
    let indexes = &relation.index_details;
    let column_name =
        |column: &Option<String>| field_name(models, index, column.as_deref().unwrap_or(""));
    let mut block = Vec::new();
    if let Some(pk) = indexes
        .iter()
        .find(|i| i.primary)
        .filter(|p| p.parts.len() > 1)
    {
        let columns: Vec<String> = pk
            .parts
            .iter()
            .map(|p| index_field(&column_name(&p.0), p.1))
            .collect();
        let default = format!("{}_pkey", relation.name);
        let map = if pk.name == default {
            String::new()
        } else {
            format!(", map: {}", quote(&pk.name))
        };
        block.push(format!("@@id([{}]{map})", columns.join(", ")));
    }
    let mut model_indexes: Vec<&IndexInfo> = indexes
        .iter()
        .filter(|i| !(i.primary || is_expression(i) || (i.unique && i.parts.len() == 1)))
        .collect();
    model_indexes.sort_by(|a, b| {
        b.unique
            .cmp(&a.unique)
            .then(a.name.as_bytes().cmp(b.name.as_bytes()))
    });
    let mut partial = false;
    for i in model_indexes {
        let fields: Vec<String> = i
            .parts
            .iter()
            .map(|p| index_field(&column_name(&p.0), p.1))
            .collect();
        block.push(index_attribute(&relation.name, i, &fields));
        partial |= i.predicate.is_some();
    }
    partial |= indexes
        .iter()
        .any(|i| i.unique && i.parts.len() == 1 && i.predicate.is_some() && !is_expression(i));
    if let Some(mapped) = &model.name.mapped {
        block.push(format!("@@map({})", quote(mapped)));
    }
    if ignored {
        block.push("@@ignore".to_string());
    }
    (block, partial)
}

/// `@@unique(...)` or `@@index(...)` for index `i` of `table` over the PSL `fields`.
fn index_attribute(table: &str, i: &IndexInfo, fields: &[String]) -> String {
    let columns: Vec<&str> = i.parts.iter().filter_map(|p| p.0.as_deref()).collect();
    let suffix = if i.unique { "key" } else { "idx" };
    let default = format!("{table}_{}_{suffix}", columns.join("_"));
    let mut arguments = vec![format!("[{}]", fields.join(", "))];
    if i.name != default {
        arguments.push(format!("map: {}", quote(&i.name)));
    }
    let method = match i.method.as_str() {
        "hash" => Some("Hash"),
        "gin" => Some("Gin"),
        "gist" => Some("Gist"),
        "brin" => Some("Brin"),
        "spgist" => Some("SpGist"),
        _ => None,
    };
    if let Some(method) = method {
        arguments.push(format!("type: {method}"));
    }
    if let Some(predicate) = &i.predicate {
        arguments.push(format!("where: raw({})", quote(predicate)));
    }
    let attribute = if i.unique { "@@unique" } else { "@@index" };
    format!("{attribute}({})", arguments.join(", "))
}

/// A `model` or `view` block: docs, the aligned fields, then the block attributes.
fn write_block(
    keyword: &str,
    docs: &[String],
    model: &Model,
    fields: &Fields,
    block: Vec<String>,
) -> String {
    let mut out = String::new();
    render_docs(&mut out, docs);
    let _ = writeln!(out, "{keyword} {} {{", model.name.prisma);
    fields.render(&mut out);
    if !block.is_empty() {
        out.push('\n');
        for line in block {
            let _ = writeln!(out, "  {line}");
        }
    }
    out.push_str("}\n");
    out
}

fn index_field(name: &str, descending: bool) -> String {
    if descending {
        format!("{name}(sort: Desc)")
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_like_prisma() {
        assert_eq!(sanitize("_sync_id"), "sync_id");
        assert_eq!(sanitize("1st_attempt"), "st_attempt");
        assert_eq!(sanitize("first-name"), "first_name");
        assert_eq!(sanitize("ümlaut"), "mlaut");
        assert_eq!(sanitize("_"), "");
        assert!(!needs_sanitizing("camelCase") && needs_sanitizing("has space"));
    }

    #[test]
    fn config_blocks_are_aligned_and_gain_partial_indexes() {
        let previous = Previous::parse(
            "generator client {\n  provider = \"prisma-client\"\n  // x\n  output = \"../g\"\n}\n\ndatasource db {\n  provider = \"postgresql\"\n}\n",
        );
        assert_eq!(
            render_config(&previous.config, true),
            "generator client {\n  provider        = \"prisma-client\"\n  output          = \"../g\"\n  previewFeatures = [\"partialIndexes\"]\n}\n\ndatasource db {\n  provider = \"postgresql\"\n}\n"
        );
    }
}
