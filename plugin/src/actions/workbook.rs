//! Workbook: rows of an Excel worksheet addressed through a header row, and new worksheets
//! (`/users/{id}/drive/items/{item}/workbook`, `/groups/{id}/drive/items/{item}/workbook`).
//!
//! Rows are read from the worksheet's used range (`usedRange(valuesOnly=true)`), whose
//! `address` tells where the values start, so sheet row numbers stay exact even when the
//! data does not begin at A1. Rows are written with one `PATCH` of a one-row range in which
//! the cells of columns not given are `null`, which Excel leaves unchanged.

use super::entity;
use crate::catalog::{Action, Handler};
use crate::error::{ConnectorError, Result};
use crate::graph::client::{GraphClient, GraphRequest};
use crate::graph::odata::{encode_segment, quote_literal, user_segment, Query};
use crate::json::input::Input;
use crate::json::schema;
use http::Method;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;

/// Graph application permission of the workbook calls that write. Microsoft documents the Excel API for
/// delegated `Files.ReadWrite` only; tenants grant app-only access through this one.
const PERMISSIONS: &[&str] = &["Files.ReadWrite.All"];
/// Reading rows needs read access only.
const READ_PERMISSIONS: &[&str] = &["Files.Read.All"];

/// Rows in an Excel worksheet (row numbers run from 1 to this).
const MAX_ROWS: u64 = 1_048_576;
/// Columns in an Excel worksheet (A to XFD).
const MAX_COLUMNS: u32 = 16_384;
/// Longest worksheet name Excel accepts, in characters.
const MAX_SHEET_NAME_CHARS: usize = 31;
/// Characters Excel refuses in a worksheet name.
const SHEET_NAME_FORBIDDEN: &[char] = &[':', '\\', '/', '?', '*', '[', ']'];

/// Input members that locate the worksheet; every other member of a row action is a column.
const SHEET_FIELDS: &[&str] = &["id", "driveType", "workbookId", "worksheetId", "headerRowNumber"];

/// The input member by which a caller asks for formulas to be written as formulas.
const ALLOW_FORMULAS: &str = "allowFormulas";

/// The workbook actions.
pub const ACTIONS: &[Action] = &[
    Action {
        id: "workbook.add-row",
        title: "Add worksheet row",
        description: "Writes a row below the worksheet's used range (GET usedRange, then PATCH range(address=...)); \
                      every input member other than the location fields is a column value named by the header row. \
                      Text is written as literal text (never as a formula) unless `allowFormulas` is true.",
        category: "workbook",
        permissions: PERMISSIONS,
        read_only: false,
        input_schema: || schema::open_object(Value::Object(row_properties()), &sheet_required()),
        output_schema: row_written_output,
        run: Handler::Value(add_row),
    },
    Action {
        id: "workbook.fetch-rows",
        title: "Fetch worksheet rows",
        description: "Reads the rows below the header row (GET usedRange(valuesOnly=true)) as \
                      {rowNumber, values: {header: value}}, optionally filtered; blank rows are skipped.",
        category: "workbook",
        permissions: READ_PERMISSIONS,
        read_only: true,
        input_schema: fetch_rows_input,
        output_schema: fetch_rows_output,
        run: Handler::Value(fetch_rows),
    },
    Action {
        id: "workbook.update-row",
        title: "Update worksheet row",
        description: "Changes cells of one sheet row (GET usedRange for the header, then PATCH range(address=...)); \
                      columns not given are left unchanged. Text is written as literal text (never as a formula) \
                      unless `allowFormulas` is true.",
        category: "workbook",
        permissions: PERMISSIONS,
        read_only: false,
        input_schema: update_row_input,
        output_schema: row_written_output,
        run: Handler::Value(update_row),
    },
    Action {
        id: "workbook.add-worksheet",
        title: "Add worksheet",
        description: "Adds a worksheet to the workbook (POST .../workbook/worksheets/add).",
        category: "workbook",
        permissions: PERMISSIONS,
        read_only: false,
        input_schema: add_worksheet_input,
        output_schema: || schema::entity("The new worksheet: id, name, position, visibility"),
        run: Handler::Value(add_worksheet),
    },
];

fn workbook_properties() -> Map<String, Value> {
    let properties = json!({
        "id": schema::string("Object id or userPrincipalName of the user, or object id of the group, owning the drive"),
        "driveType": schema::choice("Whose drive holds the workbook", &["USER", "GROUP"]),
        "workbookId": schema::string("Drive item id of the .xlsx file"),
    });
    match properties {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn sheet_properties() -> Map<String, Value> {
    let mut properties = workbook_properties();
    properties.insert("worksheetId".into(), schema::string("Worksheet name (e.g. Sheet1) or id"));
    properties.insert("headerRowNumber".into(), schema::whole_number("Sheet row holding the column names (default 1)"));
    properties
}

fn sheet_required() -> Vec<&'static str> {
    vec!["id", "driveType", "workbookId", "worksheetId"]
}

/// The members of a row write: the sheet's, and the formula opt-in.
fn row_properties() -> Map<String, Value> {
    let mut properties = sheet_properties();
    properties.insert(
        ALLOW_FORMULAS.into(),
        schema::boolean(
            "Write text starting with `=`, `+`, `-` or `@` as Excel formulas (default false: every value is \
             written as literal text, with Excel's leading apostrophe where Excel would read a formula)",
        ),
    );
    properties
}

fn update_row_input() -> Value {
    let mut properties = row_properties();
    properties.insert("rowToUpdate".into(), schema::whole_number("Sheet row number to change, below the header row"));
    let mut required = sheet_required();
    required.push("rowToUpdate");
    schema::open_object(Value::Object(properties), &required)
}

fn fetch_rows_input() -> Value {
    let mut properties = sheet_properties();
    properties.insert(
        "filters".into(),
        json!({
            "type": "array",
            "description": "Conditions on column values; numbers compare as numbers, text case-insensitively",
            "items": schema::object(
                json!({
                    "column": schema::string("Column name from the header row"),
                    "condition": schema::choice("Comparison", &["EQ", "CONTAINS", "GT", "LT"]),
                    "value": {"type": ["string", "number", "boolean"]},
                }),
                &["column", "condition", "value"],
            ),
        }),
    );
    properties.insert("filterType".into(), schema::choice("How filters combine (default AND)", &["AND", "OR"]));
    schema::object(Value::Object(properties), &sheet_required())
}

fn add_worksheet_input() -> Value {
    let mut properties = workbook_properties();
    properties.insert("sheetName".into(), schema::string("Name of the new worksheet (Excel picks one when absent)"));
    schema::object(Value::Object(properties), &["id", "driveType", "workbookId"])
}

fn row_written_output() -> Value {
    schema::object(
        json!({
            "success": {"type": "boolean", "const": true},
            "rowNumber": {"type": "integer", "description": "Sheet row number written"},
            "address": schema::string("Address of the written range, as Graph reports it (e.g. Sheet1!A11:D11)"),
        }),
        &["success", "rowNumber", "address"],
    )
}

fn fetch_rows_output() -> Value {
    schema::object(
        json!({
            "value": {"type": "array", "items": schema::object(
                json!({
                    "rowNumber": {"type": "integer"},
                    "values": schema::entity("Cell values by column name"),
                }),
                &["rowNumber", "values"],
            )},
            "count": {"type": "integer", "description": "Number of rows returned"},
        }),
        &["value", "count"],
    )
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

fn add_row(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let location = SheetLocation::read(input)?;
    let cells = column_values(input, &[ALLOW_FORMULAS])?;
    let formulas = input.optional_bool(ALLOW_FORMULAS)?.unwrap_or(false);
    let sheet = read_sheet(client, &location)?;
    // The header lies inside the used range, so the row after it is below the header too.
    let row = sheet.last_row + 1;
    if row > MAX_ROWS {
        return Err(ConnectorError::invalid_input(format!(
            "worksheet `{}` is full: its used range ends on the last sheet row",
            location.worksheet
        )));
    }
    write_row(client, &location, &sheet, row, &cells, formulas)
}

fn update_row(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let location = SheetLocation::read(input)?;
    let row =
        input.optional_u64("rowToUpdate")?.ok_or_else(|| ConnectorError::invalid_input("`rowToUpdate` is required"))?;
    if row <= location.header_row || row > MAX_ROWS {
        return Err(ConnectorError::invalid_input(format!(
            "`rowToUpdate` must be a sheet row below the header row {} and at most {MAX_ROWS} (got {row})",
            location.header_row
        )));
    }
    let cells = column_values(input, &["rowToUpdate", ALLOW_FORMULAS])?;
    let formulas = input.optional_bool(ALLOW_FORMULAS)?.unwrap_or(false);
    let sheet = read_sheet(client, &location)?;
    write_row(client, &location, &sheet, row, &cells, formulas)
}

fn fetch_rows(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let location = SheetLocation::read(input)?;
    let filters = Filter::read_all(input)?;
    let any = input.optional_choice("filterType", &["AND", "OR"])? == Some("OR");
    let sheet = read_sheet(client, &location)?;
    let mut resolved: Vec<(usize, &Filter)> = Vec::new();
    let mut unknown = Vec::new();
    for filter in &filters {
        match sheet.column_index(filter.column) {
            Some(index) => resolved.push((index, filter)),
            None => unknown.push(filter.column),
        }
    }
    if !unknown.is_empty() {
        return Err(sheet.unknown_columns(&location, &unknown, "filter column"));
    }
    let keep = |cells: &[Value]| {
        let matches = |(index, filter): &(usize, &Filter)| filter.matches(cells.get(*index).unwrap_or(&Value::Null));
        resolved.is_empty() || if any { resolved.iter().any(matches) } else { resolved.iter().all(matches) }
    };
    let rows: Vec<Value> = sheet
        .data_rows()
        .filter(|(_, cells)| !cells.iter().all(is_blank) && keep(cells))
        .map(|(row_number, cells)| json!({"rowNumber": row_number, "values": sheet.named_values(cells)}))
        .collect();
    Ok(json!({"count": rows.len(), "value": rows}))
}

fn add_worksheet(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let workbook = workbook_path(input)?;
    let mut body = Map::new();
    if let Some(name) = input.optional_str("sheetName")? {
        check_sheet_name(name)?;
        body.insert("name".into(), json!(name));
    }
    let url = client.url(&format!("{workbook}/worksheets/add"), &Query::new());
    let added = client.send(&GraphRequest::new(Method::POST, url).json(Value::Object(body)))?.into_object()?;
    Ok(entity(added))
}

// ---------------------------------------------------------------------------------------------
// Locating the workbook and the worksheet
// ---------------------------------------------------------------------------------------------

/// `users/{id}/drive/items/{item}/workbook` or `groups/{id}/drive/items/{item}/workbook`.
fn workbook_path(input: &Input) -> Result<String> {
    let owner = input.required_str("id")?;
    let drive_type = input
        .optional_choice("driveType", &["USER", "GROUP"])?
        .ok_or_else(|| ConnectorError::invalid_input("`driveType` is required (USER or GROUP)"))?;
    let item = input.required_str("workbookId")?;
    let owner = match drive_type {
        "GROUP" => format!("groups/{}", encode_segment(owner)),
        _ => user_segment(owner),
    };
    Ok(format!("{owner}/drive/items/{}/workbook", encode_segment(item)))
}

/// Where the rows live: the worksheet's path and the sheet row of its header.
struct SheetLocation<'a> {
    /// `.../workbook/worksheets/{name or id}`, the name as one encoded segment.
    path: String,
    /// The worksheet name or id as given, for messages.
    worksheet: &'a str,
    /// Sheet row (1-based) holding the column names.
    header_row: u64,
}

impl<'a> SheetLocation<'a> {
    fn read(input: &Input<'a>) -> Result<Self> {
        let workbook = workbook_path(input)?;
        let worksheet = input.required_str("worksheetId")?;
        let header_row = input.optional_u64("headerRowNumber")?.unwrap_or(1);
        if header_row == 0 || header_row >= MAX_ROWS {
            return Err(ConnectorError::invalid_input(format!(
                "`headerRowNumber` must be a sheet row from 1 to {} (got {header_row})",
                MAX_ROWS - 1
            )));
        }
        Ok(SheetLocation {
            path: format!("{workbook}/worksheets/{}", encode_segment(worksheet)),
            worksheet,
            header_row,
        })
    }
}

/// The column values of a row action: every input member that is not a location field nor
/// one of `extra`. Values keep their JSON type; a cell holds a string, number or boolean
/// (`null` leaves the cell unchanged).
fn column_values<'a>(input: &Input<'a>, extra: &[&str]) -> Result<Vec<(&'a str, &'a Value)>> {
    let mut cells = Vec::new();
    for (name, value) in input.object() {
        if SHEET_FIELDS.contains(&name.as_str()) || extra.contains(&name.as_str()) {
            continue;
        }
        if value.is_array() || value.is_object() {
            return Err(ConnectorError::invalid_input(format!(
                "column `{name}` must be a string, number, boolean or null"
            )));
        }
        cells.push((name.as_str(), value));
    }
    if cells.is_empty() {
        return Err(ConnectorError::invalid_input(
            "give at least one column value (an input member named after a header cell, e.g. \"Status\": \"Done\")",
        ));
    }
    Ok(cells)
}

/// Refuses names Excel would refuse, before asking Graph.
fn check_sheet_name(name: &str) -> Result<()> {
    let wrong = |why: &str| ConnectorError::invalid_input(format!("`sheetName` {why} (got `{name}`)"));
    if name.chars().count() > MAX_SHEET_NAME_CHARS {
        return Err(wrong(&format!("must have at most {MAX_SHEET_NAME_CHARS} characters")));
    }
    if name.contains(SHEET_NAME_FORBIDDEN) {
        return Err(wrong("must not contain any of : \\ / ? * [ ]"));
    }
    if name.starts_with('\'') || name.ends_with('\'') {
        return Err(wrong("must not begin or end with an apostrophe"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The used range and its header
// ---------------------------------------------------------------------------------------------

/// A worksheet's used range, with the header row's column names.
struct Sheet {
    /// Sheet row of the used range's first row.
    first_row: u64,
    /// Sheet row of the used range's last row.
    last_row: u64,
    /// Column number (A = 1) of the used range's first column.
    first_column: u32,
    /// Column number of the used range's last column.
    last_column: u32,
    /// Sheet row of the header.
    header_row: u64,
    /// The used range's values, row by row.
    values: Vec<Value>,
    /// The header cell of each used column as text; `None` for a blank header cell.
    columns: Vec<Option<String>>,
    /// The address Graph gave, for messages.
    address: String,
}

/// Reads the used range (`GET .../usedRange(valuesOnly=true)`) and its header row.
fn read_sheet(client: &mut GraphClient, location: &SheetLocation) -> Result<Sheet> {
    let url = client.url(&format!("{}/usedRange(valuesOnly=true)", location.path), &Query::new());
    let mut range = client.get_object(url, false)?;
    let address = match range.remove("address") {
        Some(Value::String(address)) => address,
        _ => return Err(ConnectorError::upstream("Graph returned a used range without an `address`")),
    };
    let values = match range.remove("values") {
        Some(Value::Array(rows)) => rows,
        _ => return Err(ConnectorError::upstream("Graph returned a used range without `values`")),
    };
    let ((first_column, first_row), (last_column, last_row)) = parse_range_address(&address).ok_or_else(|| {
        ConnectorError::upstream(format!("Graph returned a used range address that is not A1 notation: `{address}`"))
    })?;
    let header_row = location.header_row;
    if header_row < first_row || header_row > last_row {
        return Err(ConnectorError::invalid_input(format!(
            "`headerRowNumber` {header_row} lies outside the used range {address} of worksheet `{}`",
            location.worksheet
        )));
    }
    let width = (last_column - first_column + 1) as usize;
    let header_cells = row_cells(values.get((header_row - first_row) as usize));
    let columns = (0..width).map(|index| header_cells.get(index).and_then(header_name)).collect();
    Ok(Sheet { first_row, last_row, first_column, last_column, header_row, values, columns, address })
}

impl Sheet {
    /// The index (within the used range) of the column with that header name: an exact match
    /// of the trimmed name, else a case-insensitive one.
    fn column_index(&self, name: &str) -> Option<usize> {
        let name = name.trim();
        let named = |matches: &dyn Fn(&str) -> bool| {
            self.columns.iter().position(|column| column.as_deref().is_some_and(matches))
        };
        named(&|header| header == name).or_else(|| {
            let lower = name.to_lowercase();
            named(&|header| header.to_lowercase() == lower)
        })
    }

    /// The rows below the header, with their sheet row numbers.
    fn data_rows(&self) -> impl Iterator<Item = (u64, &[Value])> {
        let skip = (self.header_row - self.first_row + 1) as usize;
        let first = self.header_row + 1;
        self.values.iter().skip(skip).zip(first..).map(|(row, number)| (number, row_cells(Some(row))))
    }

    /// A row's cells by column name (columns with a blank header are left out).
    fn named_values(&self, cells: &[Value]) -> Value {
        let mut named = Map::new();
        for (column, cell) in self.columns.iter().zip(cells) {
            if let Some(name) = column {
                named.entry(name.clone()).or_insert_with(|| cell.clone());
            }
        }
        Value::Object(named)
    }

    /// The cells of one row spanning the used columns: the given values in their columns,
    /// `null` (left unchanged by Excel) everywhere else.
    fn row_values(&self, location: &SheetLocation, cells: &[(&str, &Value)]) -> Result<Vec<Value>> {
        let mut row = vec![Value::Null; self.columns.len()];
        let mut unknown = Vec::new();
        for (name, value) in cells {
            match self.column_index(name).and_then(|index| row.get_mut(index)) {
                Some(cell) => *cell = (*value).clone(),
                None => unknown.push(*name),
            }
        }
        if !unknown.is_empty() {
            return Err(self.unknown_columns(location, &unknown, "column"));
        }
        Ok(row)
    }

    /// The sheet-relative address of one row across the used columns, e.g. `A11:D11`.
    fn row_address(&self, row: u64) -> String {
        format!("{}{row}:{}{row}", column_letters(self.first_column), column_letters(self.last_column))
    }

    /// The invalid-input error for column names the header row does not have.
    fn unknown_columns(&self, location: &SheetLocation, unknown: &[&str], what: &str) -> ConnectorError {
        let known = quoted_list(self.columns.iter().flatten().map(String::as_str));
        ConnectorError::invalid_input(format!(
            "unknown {what} {}: header row {} of worksheet `{}` ({}) has {}",
            quoted_list(unknown.iter().copied()),
            self.header_row,
            location.worksheet,
            self.address,
            if known.is_empty() { "no column names".to_string() } else { known },
        ))
    }
}

/// Names as a readable list: `a`, `b`.
fn quoted_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

/// Writes one row with a `PATCH` of its range and reports where it went. Unless the caller
/// allowed formulas, text that Excel would take as a formula is written as literal text.
fn write_row(
    client: &mut GraphClient,
    location: &SheetLocation,
    sheet: &Sheet,
    row: u64,
    cells: &[(&str, &Value)],
    formulas: bool,
) -> Result<Value> {
    let mut values = sheet.row_values(location, cells)?;
    if !formulas {
        values.iter_mut().for_each(literal_text);
    }
    let address = sheet.row_address(row);
    // The address holds only column letters, digits and `:`, so the literal needs no
    // percent-encoding; it still goes through `quote_literal` like every OData literal.
    let url = client.url(&format!("{}/range(address={})", location.path, quote_literal(&address)), &Query::new());
    let body = json!({"values": [values]});
    let written = client.send(&GraphRequest::new(Method::PATCH, url).json(body))?.into_object()?;
    let address = match written.get("address") {
        Some(Value::String(graph_address)) => graph_address.clone(),
        _ => address,
    };
    Ok(json!({"success": true, "rowNumber": row, "address": address}))
}

/// Makes a text cell literal. A range PATCH writes `values` as if typed into the cells
/// (Graph's range update takes `values`, `formulas` and `numberFormat`, and documents no
/// switch for literal text), so text starting with `=`, `+`, `-` or `@` would become a
/// formula: a value copied from a ticket or a form could inject one. Excel's leading
/// apostrophe marks the rest of the cell as text and is not part of the value; text that
/// already starts with an apostrophe gets one more, so that it keeps its own. Text that is
/// a plain number (`-5`, `+1.5`) stays as it is, a number.
fn literal_text(cell: &mut Value) {
    if let Value::String(text) = cell {
        let formula_like = text.starts_with(['=', '+', '-', '@', '\'']);
        let number = text.trim().parse::<f64>().is_ok_and(f64::is_finite);
        if formula_like && !number {
            text.insert(0, '\'');
        }
    }
}

/// The cells of a used-range row (none when Graph sent fewer rows than its address spans).
fn row_cells(row: Option<&Value>) -> &[Value] {
    match row {
        Some(Value::Array(cells)) => cells,
        _ => &[],
    }
}

/// A header cell as a column name; blank cells name no column.
fn header_name(cell: &Value) -> Option<String> {
    let text = cell_text(cell);
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// True for an empty cell (`""` in a used range's values).
fn is_blank(cell: &Value) -> bool {
    match cell {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// A1 notation
// ---------------------------------------------------------------------------------------------

/// The column letters of a column number: 1 → `A`, 26 → `Z`, 27 → `AA`, 16384 → `XFD`.
fn column_letters(column: u32) -> String {
    let mut letters = Vec::new();
    let mut rest = column;
    while rest > 0 {
        let digit = ((rest - 1) % 26) as u8;
        letters.push(char::from(b'A' + digit));
        rest = (rest - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// The column number of column letters (`A` → 1, `AA` → 27), within Excel's limits.
fn parse_column(letters: &str) -> Option<u32> {
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    let mut column: u32 = 0;
    for byte in letters.bytes() {
        if !byte.is_ascii_alphabetic() {
            return None;
        }
        column = column * 26 + u32::from(byte.to_ascii_uppercase() - b'A') + 1;
    }
    (column <= MAX_COLUMNS).then_some(column)
}

/// A cell reference such as `B3` or `$B$3` as (column, row).
fn parse_cell(reference: &str) -> Option<(u32, u64)> {
    let reference = reference.replace('$', "");
    let split = reference.find(|c: char| c.is_ascii_digit())?;
    let (letters, digits) = reference.split_at(split);
    let row: u64 = digits.parse().ok()?;
    let column = parse_column(letters)?;
    (1..=MAX_ROWS).contains(&row).then_some((column, row))
}

/// The corners of a range address as Graph prints it: `Sheet1!A1:D10`, `'My Sheet'!B3:E9`,
/// `'O''Brien'!A1:C4` or a single cell `Sheet1!A1`. The sheet part is dropped: a cell
/// reference never contains `!`, so what follows the last one is the reference.
fn parse_range_address(address: &str) -> Option<((u32, u64), (u32, u64))> {
    let reference = address.rsplit_once('!').map_or(address, |(_, reference)| reference);
    let (start, end) = reference.split_once(':').unwrap_or((reference, reference));
    let (start, end) = (parse_cell(start)?, parse_cell(end)?);
    (start.0 <= end.0 && start.1 <= end.1).then_some((start, end))
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

/// How a filter compares a cell with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    /// Equal: as numbers when both are numeric, else as text ignoring case.
    Equal,
    /// The cell's text contains the value's, ignoring case.
    Contains,
    /// Greater: as numbers when both are numeric, as text when neither is.
    Greater,
    /// Less: like `Greater`.
    Less,
}

/// One entry of `filters`.
struct Filter<'a> {
    column: &'a str,
    condition: Condition,
    value: &'a Value,
}

impl<'a> Filter<'a> {
    /// Reads and checks `filters` (absent or empty = no filtering).
    fn read_all(input: &Input<'a>) -> Result<Vec<Filter<'a>>> {
        let items = match input.get("filters") {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(ConnectorError::invalid_input("`filters` must be a list of {column, condition, value}"))
            }
        };
        items.iter().enumerate().map(|(index, item)| Filter::read(index, item)).collect()
    }

    fn read(index: usize, item: &'a Value) -> Result<Filter<'a>> {
        let field = |name: &str| format!("`filters[{index}].{name}`");
        let item = item
            .as_object()
            .ok_or_else(|| ConnectorError::invalid_input(format!("`filters[{index}]` must be a JSON object")))?;
        let column = match item.get("column") {
            Some(Value::String(column)) if !column.trim().is_empty() => column.as_str(),
            _ => return Err(ConnectorError::invalid_input(format!("{} is required (a column name)", field("column")))),
        };
        let condition = match item.get("condition").and_then(Value::as_str).map(str::to_ascii_uppercase).as_deref() {
            Some("EQ") => Condition::Equal,
            Some("CONTAINS") => Condition::Contains,
            Some("GT") => Condition::Greater,
            Some("LT") => Condition::Less,
            _ => {
                return Err(ConnectorError::invalid_input(format!(
                    "{} must be one of EQ, CONTAINS, GT, LT",
                    field("condition")
                )))
            }
        };
        let value = match item.get("value") {
            Some(value @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => value,
            _ => {
                return Err(ConnectorError::invalid_input(format!(
                    "{} is required (a string, number or boolean)",
                    field("value")
                )))
            }
        };
        Ok(Filter { column, condition, value })
    }

    fn matches(&self, cell: &Value) -> bool {
        let numbers = cell_number(cell).zip(cell_number(self.value));
        let text = || (cell_text(cell).to_lowercase(), cell_text(self.value).to_lowercase());
        let order = || match numbers {
            Some((cell, value)) => cell.partial_cmp(&value),
            // Text compares with text only: a blank or text cell is neither above nor below a number.
            None if cell_number(cell).is_none() && cell_number(self.value).is_none() => {
                let (cell, value) = text();
                Some(cell.cmp(&value))
            }
            None => None,
        };
        match self.condition {
            Condition::Equal => match numbers {
                Some((cell, value)) => cell == value,
                None => {
                    let (cell, value) = text();
                    cell == value
                }
            },
            Condition::Contains => {
                let (cell, value) = text();
                cell.contains(&value)
            }
            Condition::Greater => order() == Some(Ordering::Greater),
            Condition::Less => order() == Some(Ordering::Less),
        }
    }
}

/// A cell or filter value as a number: JSON numbers, and strings that hold one.
fn cell_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok().filter(|number| number.is_finite()),
        _ => None,
    }
}

/// A cell or filter value as text: strings as they are, numbers and booleans printed.
fn cell_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::transport::scripted::{body_json, connected, token_config, ScriptedTransport};
    use crate::ErrorCode;

    const GROUP_BOOK: &str =
        "https://graph.microsoft.com/v1.0/groups/user-or-group-id/drive/items/workbook-item-id/workbook";

    /// Runs one action over a script; returns its result and the requests sent as
    /// (method, url, body).
    fn run(action: &str, input: Value, script: ScriptedTransport) -> (Result<Value>, Vec<(String, String, Value)>) {
        let (mut connector, log) = connected(token_config(), script);
        let result = connector.invoke(action, &input.to_string());
        let sent = log
            .borrow()
            .iter()
            .map(|request| {
                assert_eq!(request.header_value("authorization"), Some("Bearer test-token"));
                let body = if request.body().is_empty() { Value::Null } else { body_json(request) };
                (request.method().to_string(), request.uri().to_string(), body)
            })
            .collect();
        (result, sent)
    }

    fn used_range(address: &str, values: Value) -> Value {
        json!({"address": address, "addressLocal": address, "values": values})
    }

    fn people() -> Value {
        used_range(
            "Sheet1!A1:F5",
            json!([
                ["First Name", "Last Name", "Email", "Department", "Status", "Last Modified"],
                ["Megan", "Bowen", "meganb@contoso.com", "Engineering", "Open", 45890],
                ["Alex", "Wilber", "alexw@contoso.com", "Sales", "Completed", 45891],
                ["", "", "", "", "", ""],
                ["Lee", "Gu", "leeg@contoso.com", "engineering ops", "Open", "45893"]
            ]),
        )
    }

    fn sheet_input(extra: Value) -> Value {
        let mut input = json!({"id": "user-or-group-id", "driveType": "GROUP", "workbookId": "workbook-item-id",
                               "worksheetId": "Sheet1", "headerRowNumber": "1"});
        if let (Some(input), Value::Object(extra)) = (input.as_object_mut(), extra) {
            input.extend(extra);
        }
        input
    }

    #[test]
    fn column_letters_follow_excel() {
        for (number, letters) in [(1, "A"), (26, "Z"), (27, "AA"), (52, "AZ"), (53, "BA"), (702, "ZZ"), (703, "AAA")] {
            assert_eq!(column_letters(number), letters);
            assert_eq!(parse_column(letters), Some(number));
        }
        assert_eq!(column_letters(MAX_COLUMNS), "XFD");
        assert_eq!(parse_column("xfd"), Some(MAX_COLUMNS));
        assert_eq!(parse_column("XFE"), None);
        assert_eq!(parse_column("AAAA"), None);
        assert_eq!(parse_column(""), None);
    }

    #[test]
    fn used_range_addresses_are_parsed_with_any_sheet_name() {
        assert_eq!(parse_range_address("Sheet1!A1:D10"), Some(((1, 1), (4, 10))));
        assert_eq!(parse_range_address("'My Sheet'!B3:E9"), Some(((2, 3), (5, 9))));
        assert_eq!(parse_range_address("'O''Brien'!AA7:AB8"), Some(((27, 7), (28, 8))));
        assert_eq!(parse_range_address("'Q1!Q2'!A1"), Some(((1, 1), (1, 1))));
        assert_eq!(parse_range_address("Sheet1!$B$2:$C$5"), Some(((2, 2), (3, 5))));
        assert_eq!(parse_range_address("Sheet1!D10:A1"), None);
        assert_eq!(parse_range_address("Sheet1!"), None);
        assert_eq!(parse_range_address("Sheet1!A0"), None);
    }

    #[test]
    fn add_row_writes_the_sample_below_the_used_range_with_nulls_for_missing_columns() {
        let input = sheet_input(json!({"First Name": "John", "Last Name": "Doe", "Email": "john.doe@contoso.com",
                                       "Department": "Engineering"}));
        let script = ScriptedTransport::new().respond(200, people()).respond(
            200,
            json!({"address": "Sheet1!A6:F6", "values": [["John", "Doe", "john.doe@contoso.com", "Engineering", "", ""]]}),
        );
        let (result, sent) = run("workbook.add-row", input, script);
        assert_eq!(result.unwrap(), json!({"success": true, "rowNumber": 6, "address": "Sheet1!A6:F6"}));
        assert_eq!(
            sent,
            vec![
                ("GET".into(), format!("{GROUP_BOOK}/worksheets/Sheet1/usedRange(valuesOnly=true)"), Value::Null),
                (
                    "PATCH".into(),
                    format!("{GROUP_BOOK}/worksheets/Sheet1/range(address='A6:F6')"),
                    json!({"values": [["John", "Doe", "john.doe@contoso.com", "Engineering", null, null]]})
                ),
            ]
        );
    }

    #[test]
    fn text_that_excel_would_read_as_a_formula_is_written_as_literal_text() {
        let script = ScriptedTransport::new().respond(200, people()).respond(200, json!({"address": "Sheet1!A6:F6"}));
        let input = sheet_input(json!({
            "First Name": "=HYPERLINK(\"https://evil.example\",\"open\")", "Last Name": "+1+2",
            "Email": "@SUM(A1)", "Department": "'quoted", "Status": "-done", "Last Modified": "-5"
        }));
        let (result, sent) = run("workbook.add-row", input, script);
        result.unwrap();
        assert_eq!(
            sent[1].2,
            json!({"values": [["'=HYPERLINK(\"https://evil.example\",\"open\")", "'+1+2", "'@SUM(A1)", "''quoted",
                               "'-done", "-5"]]})
        );
    }

    #[test]
    fn formulas_are_written_only_when_the_caller_opts_in() {
        let script = ScriptedTransport::new().respond(200, people()).respond(200, json!({"address": "Sheet1!A5:F5"}));
        let input =
            sheet_input(json!({"rowToUpdate": 5, "allowFormulas": true, "Status": "=IF(A5=\"\",\"\",\"Open\")",
                                        "Last Modified": "=TODAY()"}));
        let (result, sent) = run("workbook.update-row", input, script);
        result.unwrap();
        assert_eq!(sent[1].2, json!({"values": [[null, null, null, null, "=IF(A5=\"\",\"\",\"Open\")", "=TODAY()"]]}));

        let input = sheet_input(json!({"allowFormulas": "sometimes", "Status": "=1"}));
        let (result, sent) = run("workbook.add-row", input, ScriptedTransport::new());
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert_eq!(error.message, "`allowFormulas` must be true or false");
        assert!(sent.is_empty());
    }

    #[test]
    fn a_sheet_name_with_a_space_is_one_segment_and_offsets_are_kept() {
        let input = json!({"id": "AdeleV@contoso.com", "driveType": "user", "workbookId": "01ABC", "worksheetId": "My Sheet",
                           "headerRowNumber": 3, "Amount": 12.5, "Paid": true});
        let script = ScriptedTransport::new()
            .respond(200, used_range("'My Sheet'!B3:D4", json!([["Item", "Amount", "Paid"], ["Pens", 3, false]])))
            .respond(200, json!({"address": "'My Sheet'!B5:D5"}));
        let (result, sent) = run("workbook.add-row", input, script);
        assert_eq!(result.unwrap()["rowNumber"], 5);
        let sheet = "https://graph.microsoft.com/v1.0/users/AdeleV@contoso.com/drive/items/01ABC/workbook/worksheets/My%20Sheet";
        assert_eq!(sent[0].1, format!("{sheet}/usedRange(valuesOnly=true)"));
        assert_eq!(sent[1].1, format!("{sheet}/range(address='B5:D5')"));
        assert_eq!(sent[1].2, json!({"values": [[null, 12.5, true]]}));
    }

    #[test]
    fn a_sheet_name_with_a_quote_is_percent_encoded_in_the_path() {
        let input = sheet_input(json!({"worksheetId": "O'Brien #2", "Name": "x"}));
        let script = ScriptedTransport::new()
            .respond(200, used_range("'O''Brien #2'!A1:A1", json!([["Name"]])))
            .respond(200, json!({"address": "'O''Brien #2'!A2:A2"}));
        let (result, sent) = run("workbook.add-row", input, script);
        assert_eq!(result.unwrap()["address"], "'O''Brien #2'!A2:A2");
        assert_eq!(sent[1].1, format!("{GROUP_BOOK}/worksheets/O%27Brien%20%232/range(address='A2:A2')"));
    }

    #[test]
    fn unknown_columns_are_named_before_any_write() {
        let input = sheet_input(json!({"Email": "a@b.c", "Shoe Size": 44, "Team": "x"}));
        let (result, sent) = run("workbook.add-row", input, ScriptedTransport::new().respond(200, people()));
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert!(error.message.starts_with("unknown column `Shoe Size`, `Team`: header row 1 of worksheet `Sheet1`"));
        assert!(error.message.contains("`First Name`, `Last Name`"));
        assert_eq!(sent.len(), 1);
    }

    #[test]
    fn location_fields_are_checked_before_any_request() {
        let cases = [
            (json!({"driveType": "SITE"}), "`driveType` must be one of USER, GROUP"),
            (json!({"driveType": null}), "`driveType` is required"),
            (json!({"workbookId": ""}), "`workbookId` is required"),
            (json!({"headerRowNumber": 0}), "`headerRowNumber` must be a sheet row"),
            (json!({"headerRowNumber": "x"}), "`headerRowNumber` must be a whole number"),
            (json!({"Email": ["a"]}), "column `Email` must be a string"),
        ];
        for (change, message) in cases {
            let (result, sent) = run("workbook.add-row", sheet_input(change), ScriptedTransport::new());
            let error = result.unwrap_err();
            assert!(error.message.starts_with(message), "{}", error.message);
            assert!(sent.is_empty());
        }
        let (result, sent) = run("workbook.add-row", sheet_input(json!({})), ScriptedTransport::new());
        assert!(result.unwrap_err().message.starts_with("give at least one column value"));
        assert!(sent.is_empty());
    }

    #[test]
    fn update_row_patches_the_whole_row_leaving_other_cells_null() {
        let input = sheet_input(json!({"rowToUpdate": "5", "Status": "Completed", "Last Modified": "2025-08-27"}));
        let script = ScriptedTransport::new().respond(200, people()).respond(
            200,
            json!({"address": "Sheet1!A5:F5", "values": [["Lee", "Gu", "", "", "Completed", "2025-08-27"]]}),
        );
        let (result, sent) = run("workbook.update-row", input, script);
        assert_eq!(result.unwrap(), json!({"success": true, "rowNumber": 5, "address": "Sheet1!A5:F5"}));
        assert_eq!(sent[1].0, "PATCH");
        assert_eq!(sent[1].1, format!("{GROUP_BOOK}/worksheets/Sheet1/range(address='A5:F5')"));
        assert_eq!(sent[1].2, json!({"values": [[null, null, null, null, "Completed", "2025-08-27"]]}));
    }

    #[test]
    fn update_row_refuses_the_header_and_rows_above_it() {
        for row in [json!(1), json!("0"), json!(2_000_000)] {
            let input = sheet_input(json!({"rowToUpdate": row, "Status": "x"}));
            let (result, sent) = run("workbook.update-row", input, ScriptedTransport::new());
            assert!(result
                .unwrap_err()
                .message
                .starts_with("`rowToUpdate` must be a sheet row below the header row 1"));
            assert!(sent.is_empty());
        }
        let (result, _) = run("workbook.update-row", sheet_input(json!({"Status": "x"})), ScriptedTransport::new());
        assert_eq!(result.unwrap_err().message, "`rowToUpdate` is required");
    }

    fn fetch(filters: Value, filter_type: Option<&str>) -> Vec<u64> {
        let mut input = sheet_input(json!({"filters": filters}));
        if let Some(filter_type) = filter_type {
            input["filterType"] = json!(filter_type);
        }
        let (result, _) = run("workbook.fetch-rows", input, ScriptedTransport::new().respond(200, people()));
        let output = result.unwrap();
        let rows: Vec<u64> =
            output["value"].as_array().unwrap().iter().map(|r| r["rowNumber"].as_u64().unwrap()).collect();
        assert_eq!(output["count"], rows.len());
        rows
    }

    #[test]
    fn fetch_rows_maps_rows_by_header_and_skips_blank_rows() {
        let (result, sent) =
            run("workbook.fetch-rows", sheet_input(json!({})), ScriptedTransport::new().respond(200, people()));
        let output = result.unwrap();
        assert_eq!(sent[0].1, format!("{GROUP_BOOK}/worksheets/Sheet1/usedRange(valuesOnly=true)"));
        assert_eq!(output["count"], 3);
        assert_eq!(
            output["value"][0],
            json!({"rowNumber": 2, "values": {"First Name": "Megan", "Last Name": "Bowen", "Email": "meganb@contoso.com",
                   "Department": "Engineering", "Status": "Open", "Last Modified": 45890}})
        );
        assert_eq!(output["value"][2]["rowNumber"], 5);
    }

    #[test]
    fn filters_compare_numbers_as_numbers_and_text_without_case() {
        let rule = |column: &str, condition: &str, value: Value| json!({"column": column, "condition": condition, "value": value});
        assert_eq!(fetch(json!([rule("Department", "EQ", json!("Engineering"))]), None), vec![2]);
        assert_eq!(fetch(json!([rule("department", "eq", json!("ENGINEERING"))]), None), vec![2]);
        assert_eq!(fetch(json!([rule("Department", "CONTAINS", json!("ENGINEER"))]), None), vec![2, 5]);
        assert_eq!(fetch(json!([rule("Last Modified", "EQ", json!("45891"))]), None), vec![3]);
        assert_eq!(fetch(json!([rule("Last Modified", "GT", json!(45890))]), None), vec![3, 5]);
        assert_eq!(fetch(json!([rule("Last Modified", "LT", json!("45891.5"))]), None), vec![2, 3]);
        assert_eq!(fetch(json!([rule("Last Name", "LT", json!("C"))]), None), vec![2]);
        assert_eq!(fetch(json!([rule("Last Name", "GT", json!(5))]), None), Vec::<u64>::new());
        let both = json!([rule("Status", "EQ", json!("Open")), rule("Department", "CONTAINS", json!("ops"))]);
        assert_eq!(fetch(both.clone(), None), vec![5]);
        assert_eq!(fetch(both.clone(), Some("AND")), vec![5]);
        let either = json!([rule("Status", "EQ", json!("Completed")), rule("Department", "CONTAINS", json!("ops"))]);
        assert_eq!(fetch(either, Some("or")), vec![3, 5]);
    }

    #[test]
    fn bad_filters_are_named() {
        let cases = [
            (json!([{"column": "Status", "condition": "LIKE", "value": "x"}]), "`filters[0].condition` must be one of"),
            (json!([{"column": "Status", "condition": "EQ"}]), "`filters[0].value` is required"),
            (json!([{"condition": "EQ", "value": 1}]), "`filters[0].column` is required"),
            (json!({"column": "Status"}), "`filters` must be a list"),
        ];
        for (filters, message) in cases {
            let (result, sent) =
                run("workbook.fetch-rows", sheet_input(json!({"filters": filters})), ScriptedTransport::new());
            assert!(result.unwrap_err().message.starts_with(message));
            assert!(sent.is_empty());
        }
        let filters = json!([{"column": "Salary", "condition": "GT", "value": 1}]);
        let (result, _) = run(
            "workbook.fetch-rows",
            sheet_input(json!({"filters": filters})),
            ScriptedTransport::new().respond(200, people()),
        );
        assert!(result.unwrap_err().message.starts_with("unknown filter column `Salary`"));
    }

    #[test]
    fn a_header_row_outside_the_used_range_is_invalid_input() {
        let input = sheet_input(json!({"headerRowNumber": 2, "Name": "x"}));
        let script = ScriptedTransport::new().respond(200, used_range("Sheet1!C4:D6", json!([[1, 2], [3, 4], [5, 6]])));
        let (result, sent) = run("workbook.add-row", input, script);
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert_eq!(error.message, "`headerRowNumber` 2 lies outside the used range Sheet1!C4:D6 of worksheet `Sheet1`");
        assert_eq!(sent.len(), 1);
    }

    #[test]
    fn add_worksheet_posts_the_name_and_returns_the_worksheet() {
        let input = json!({"id": "user-or-group-id", "driveType": "GROUP", "workbookId": "workbook-item-id", "sheetName": "Q3 Sales"});
        let worksheet = json!({"@odata.context": "x", "id": "{75A18F35-34AA-4F44-97CC-FDC3C05D9F40}", "name": "Q3 Sales",
                               "position": 1, "visibility": "Visible"});
        let (result, sent) = run("workbook.add-worksheet", input, ScriptedTransport::new().respond(200, worksheet));
        assert_eq!(result.unwrap()["name"], "Q3 Sales");
        assert_eq!(sent, vec![("POST".into(), format!("{GROUP_BOOK}/worksheets/add"), json!({"name": "Q3 Sales"}))]);
    }

    #[test]
    fn add_worksheet_refuses_names_excel_refuses() {
        for name in ["a/b", "[x]", "'quoted'", "a name that is far too long for excel"] {
            let input = json!({"id": "g", "driveType": "GROUP", "workbookId": "w", "sheetName": name});
            let (result, sent) = run("workbook.add-worksheet", input, ScriptedTransport::new());
            assert!(result.unwrap_err().message.starts_with("`sheetName` must"));
            assert!(sent.is_empty());
        }
    }

    #[test]
    fn a_403_is_forbidden_and_not_retried() {
        let denied = json!({"error": {"code": "accessDenied", "message": "Access denied",
                                      "innerError": {"request-id": "r-1", "date": "2025-08-27T10:00:00"}}});
        let (result, sent) =
            run("workbook.fetch-rows", sheet_input(json!({})), ScriptedTransport::new().respond(403, denied));
        let error = result.unwrap_err();
        assert_eq!((error.code, error.graph_code.as_deref()), (ErrorCode::Forbidden, Some("accessDenied")));
        assert_eq!(sent.len(), 1);
    }
}
