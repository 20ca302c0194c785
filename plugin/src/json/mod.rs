//! JSON in and out of the connector: Graph's objects and pages passed through as the text
//! Graph wrote, action input and output (date-times among it), and the JSON Schemas of the catalog.

pub mod entity;
pub mod input;
pub mod listing;
pub mod output;
pub mod raw_json;
pub mod schema;
pub mod time;
