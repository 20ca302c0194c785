//! Groups: create, read, update, delete and list (`/groups`), directory sync (`delta`), and
//! their members (direct and transitive) and owners.

use super::bulk::{required_id_list, resolve_targets, BulkOutcome, ItemOutcome, Target, GRAPH_BULK_LIMIT};
use super::{delta_round, entity, reference, resolve_user_id, success, ListQuery};
use crate::catalog::{Action, Handler};
use crate::error::{ConnectorError, Result};
use crate::graph::client::{GraphClient, GraphRequest};
use crate::graph::odata::{encode_segment, quote_literal, Query};
use crate::json::entity::Entity;
use crate::json::input::Input;
use crate::json::listing::Listing;
use crate::json::schema;
use http::Method;
use serde_json::{json, Map, Value};

/// The group actions.
pub const ACTIONS: &[Action] = &[
    Action {
        id: "groups.create",
        title: "Create group",
        description: "Creates a security, Microsoft 365 (Unified) or dynamic-membership group (POST /groups). \
            Owners and members are bound in the create body, at most 20 of them (owners first); the rest are \
            added afterwards and reported under `addedAfterCreation`. Binding users also needs User.Read.All, \
            adding the overflow GroupMember.ReadWrite.All.",
        category: "groups",
        permissions: &["Group.Create"],
        read_only: false,
        input_schema: create_input,
        output_schema: || {
            schema::entity("The created group, plus `addedAfterCreation` when owners or members were added after it")
        },
        run: Handler::Value(create),
    },
    Action {
        id: "groups.get",
        title: "Get group",
        description: "Reads a group (GET /groups/{id}) with an optional $select.",
        category: "groups",
        permissions: &["GroupMember.Read.All"],
        read_only: true,
        input_schema: || {
            schema::object(
                json!({
                    "groupId": schema::string("Object id of the group"),
                    "select": schema::string("Comma-separated properties ($select)"),
                }),
                &["groupId"],
            )
        },
        output_schema: || schema::entity("The group"),
        run: Handler::Entity(get),
    },
    Action {
        id: "groups.update",
        title: "Update group",
        description: "Updates properties of a group (PATCH /groups/{id}) from `jsonBody`.",
        category: "groups",
        permissions: &["Group.ReadWrite.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "groupId": schema::string("Object id of the group"),
                    "jsonBody": schema::entity("The group properties to change"),
                }),
                &["groupId", "jsonBody"],
            )
        },
        output_schema: || schema::success_output(&["groupId"]),
        run: Handler::Value(update),
    },
    Action {
        id: "groups.delete",
        title: "Delete group",
        description: "Deletes a group (DELETE /groups/{id}); a Microsoft 365 group stays restorable for 30 days.",
        category: "groups",
        permissions: &["Group.ReadWrite.All"],
        read_only: false,
        input_schema: group_id_input,
        output_schema: || schema::success_output(&["groupId"]),
        run: Handler::Value(delete),
    },
    Action {
        id: "groups.list",
        title: "List groups",
        description: "Lists groups (GET /groups), following pages up to maxItems.",
        category: "groups",
        permissions: &["GroupMember.Read.All"],
        read_only: true,
        input_schema: || schema::object(Value::Object(schema::list_query_properties()), &[]),
        output_schema: || schema::list_output("A group"),
        run: Handler::Listing(list),
    },
    Action {
        id: "groups.list-members",
        title: "List group members",
        description: "Lists a group's direct members (GET /groups/{id}/members), optionally only one kind \
            (/members/microsoft.graph.{type}); follows every page unless maxItems is given.",
        category: "groups",
        permissions: &["GroupMember.Read.All"],
        read_only: true,
        input_schema: list_members_input,
        output_schema: || schema::list_output("A member (user, group, device, servicePrincipal, ...) with @odata.type"),
        run: Handler::Listing(list_members),
    },
    Action {
        id: "groups.add-members",
        title: "Add group members",
        description: "Adds users or devices to a group (PATCH /groups/{id} with members@odata.bind, 20 a request). \
            A request Graph refuses is retried member by member, so only the culprits fail; existing members \
            are reported under `alreadyMember`. Adding devices also needs Device.ReadWrite.All.",
        category: "groups",
        permissions: &["GroupMember.ReadWrite.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "groupId": schema::string("Object id of the group"),
                    "directoryObject": schema::choice("Kind of the members (default Users); user ids may be userPrincipalNames", MEMBER_KINDS),
                    "members": schema::ids("Object ids of the users or devices to add"),
                }),
                &["groupId", "members"],
            )
        },
        output_schema: BulkOutcome::schema,
        run: Handler::Value(add_members),
    },
    Action {
        id: "groups.remove-members",
        title: "Remove group members",
        description: "Removes members from a group (DELETE /groups/{id}/members/{memberId}/$ref for each); \
            ids that were not members are reported under `notMember`.",
        category: "groups",
        permissions: &["GroupMember.ReadWrite.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "groupId": schema::string("Object id of the group"),
                    "memberIds": schema::ids("Object ids (or userPrincipalNames) of the members to remove"),
                }),
                &["groupId", "memberIds"],
            )
        },
        output_schema: BulkOutcome::schema,
        run: Handler::Value(remove_members),
    },
    Action {
        id: "groups.list-owners",
        title: "List group owners",
        description: "Lists a group's owners (GET /groups/{id}/owners), following pages up to maxItems.",
        category: "groups",
        permissions: &["GroupMember.Read.All"],
        read_only: true,
        input_schema: || {
            let mut properties = schema::list_query_properties();
            properties.insert("groupId".into(), schema::string("Object id of the group"));
            schema::object(Value::Object(properties), &["groupId"])
        },
        output_schema: || schema::list_output("An owner (user or servicePrincipal) with @odata.type"),
        run: Handler::Listing(list_owners),
    },
    Action {
        id: "groups.add-owners",
        title: "Add group owners",
        description: "Adds owners to a group (POST /groups/{id}/owners/$ref for each); existing owners are \
            reported under `alreadyMember`.",
        category: "groups",
        permissions: &["Group.ReadWrite.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "groupId": schema::string("Object id of the group"),
                    "ownerIds": schema::ids("Object ids (or userPrincipalNames) of the owners to add"),
                }),
                &["groupId", "ownerIds"],
            )
        },
        output_schema: BulkOutcome::schema,
        run: Handler::Value(add_owners),
    },
    Action {
        id: "groups.remove-owners",
        title: "Remove group owners",
        description: "Removes owners from a group (DELETE /groups/{id}/owners/{ownerId}/$ref for each, in the order \
            given; a userPrincipalName is first resolved to its object id, which needs User.ReadBasic.All). Ids \
            Graph answers 404 for are reported under `notOwner`. Graph keeps a group's last user owner: that \
            refusal is a `conflict` in `failed` (add another owner first), and the other ids are still tried.",
        category: "groups",
        permissions: &["Group.ReadWrite.All", "User.ReadBasic.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "groupId": schema::string("Object id of the group"),
                    "ownerIds": schema::ids("Object ids (or userPrincipalNames) of the owners to remove"),
                }),
                &["groupId", "ownerIds"],
            )
        },
        output_schema: BulkOutcome::schema,
        run: Handler::Value(remove_owners),
    },
    Action {
        id: "groups.list-transitive-members",
        title: "List group members, nested ones included",
        description: "Lists a group's members and the members of its nested groups (GET \
            /groups/{id}/transitiveMembers), optionally only one kind (/transitiveMembers/microsoft.graph.{type}); \
            follows every page unless maxItems is given. Hidden memberships need Member.Read.Hidden.",
        category: "groups",
        permissions: &["GroupMember.Read.All"],
        read_only: true,
        input_schema: list_members_input,
        output_schema: || schema::list_output("A member (user, group, device, servicePrincipal, ...) with @odata.type"),
        run: Handler::Listing(list_transitive_members),
    },
    Action {
        id: "groups.delta",
        title: "Sync groups (delta)",
        description: "Directory sync of groups (GET /groups/delta): a first call reads every group across pages and \
            ends with a `deltaLink`; passing that `deltaLink` later returns only what changed since. Membership \
            changes come in each group's `members@delta` (a removed member carries `@removed`); with `select`, \
            `members` must be in it to track membership. A `nextLink` from an output cut by `maxItems` can be \
            passed as `deltaLink` to resume. GroupMember.Read.All is needed for `members@delta` \
            (Group.ReadBasic.All reads group properties alone).",
        category: "groups",
        permissions: &["GroupMember.Read.All"],
        read_only: true,
        input_schema: || {
            schema::object(
                json!({
                    "deltaLink": schema::string("The deltaLink (or nextLink) of an earlier output; omit for a full sync"),
                    "select": schema::string("Comma-separated properties ($select) of a full sync, e.g. displayName,members; a deltaLink carries its own"),
                    "filter": schema::string("Only these groups: `id eq '{id}'` terms joined by `or` (at most 50), for a full sync"),
                    "returnMinimal": schema::boolean("Send `Prefer: return=minimal`: later rounds return only the properties that changed"),
                    "maxItems": schema::whole_number("Stop after this many items (default 1000, 0 = all)"),
                }),
                &[],
            )
        },
        output_schema: || {
            let mut output = schema::list_output(
                "A group (with `members@delta` when membership changed), or `{id, @removed}` for a deleted one",
            );
            output["properties"]["deltaLink"] = schema::string(
                "Pass back as `deltaLink` to get only the changes since this sync (present on the last page)",
            );
            output
        },
        run: Handler::Listing(delta),
    },
];

/// The `directoryObject` values of `groups.add-members`.
const MEMBER_KINDS: &[&str] = &["Users", "Devices"];
/// The OData casts `groups.list-members` and `groups.list-transitive-members` can narrow the
/// members to.
const MEMBER_TYPES: &[&str] = &["user", "group", "device", "servicePrincipal"];
/// The `groupTypes` Graph lets a client create.
const GROUP_TYPES: &[&str] = &["Unified", "DynamicMembership"];
/// Longest `displayName` of a group.
const MAX_DISPLAY_NAME: usize = 256;
/// Longest `mailNickname` of a group.
const MAX_MAIL_NICKNAME: usize = 64;
/// Most `id eq '{id}'` terms Graph takes in the `$filter` of `groups/delta`.
const MAX_DELTA_FILTER_IDS: usize = 50;
/// Characters every version of Graph's group documentation forbids in a `mailNickname`
/// (the pages disagree on `.`, `/`, `\`, `'` and `"`, which are left to Graph).
const FORBIDDEN_IN_MAIL_NICKNAME: &[char] = &['@', '(', ')', '[', ']', ';', ':', '<', '>', ',', ' '];

fn group_id_input() -> Value {
    schema::object(json!({"groupId": schema::string("Object id of the group")}), &["groupId"])
}

fn create_input() -> Value {
    schema::open_object(
        json!({
            "displayName": schema::string("Name of the group (at most 256 characters)"),
            "mailNickname": schema::string("Mail alias (at most 64 ASCII characters, no spaces or @ ( ) [ ] ; : < > ,)"),
            "description": schema::string("Description of the group"),
            "groupTypes": {"type": "array", "items": {"type": "string", "enum": GROUP_TYPES},
                "description": "[] for a security group, [\"Unified\"] for a Microsoft 365 group; add \"DynamicMembership\" for rule-based membership"},
            "mailEnabled": schema::boolean("True for Microsoft 365 groups, false for security groups"),
            "securityEnabled": schema::boolean("True for security groups"),
            "owners": schema::ids("Object ids or userPrincipalNames of the owners"),
            "members": schema::ids("Object ids or userPrincipalNames of the members (not for dynamic groups)"),
            "membershipRule": schema::string("Dynamic membership rule, e.g. user.department -eq \"Marketing\""),
            "membershipRuleProcessingState": schema::choice("Whether the rule is evaluated (default On for dynamic groups)", &["On", "Paused"]),
            "visibility": schema::string("Public, Private or HiddenMembership"),
            "isAssignableToRole": schema::boolean("True for a group that can be assigned Entra roles (needs RoleManagement.ReadWrite.Directory)"),
        }),
        &["displayName", "mailNickname", "mailEnabled", "securityEnabled"],
    )
}

fn list_members_input() -> Value {
    let mut properties = schema::list_query_properties();
    properties.insert("groupId".into(), schema::string("Object id of the group"));
    properties.insert("type".into(), schema::choice("Only members of this kind (OData cast)", MEMBER_TYPES));
    properties.insert("maxItems".into(), schema::whole_number("Stop after this many items (default 0 = all)"));
    schema::object(Value::Object(properties), &["groupId"])
}

/// The path of a group: `groups/{id}`, the id encoded as one segment.
fn group_path(group_id: &str) -> String {
    format!("groups/{}", encode_segment(group_id))
}

/// A required boolean (`true`/`false`, or their strings).
fn required_bool(input: &Input, name: &str) -> Result<bool> {
    input.optional_bool(name)?.ok_or_else(|| ConnectorError::invalid_input(format!("`{name}` is required")))
}

/// Resolves every id, failing on the first that cannot be resolved (nothing was written yet).
fn resolve_all(client: &mut GraphClient, ids: Vec<String>) -> Result<Vec<Target>> {
    ids.into_iter().map(|given| resolve_user_id(client, &given).map(|object_id| Target { given, object_id })).collect()
}

/// True when Graph refused a reference because it is already there ("One or more added object
/// references already exist for the following modified properties: 'members'."). Graph gives
/// this only the generic code `Request_BadRequest`, so the message is what tells it apart.
fn is_already_present(error: &ConnectorError) -> bool {
    crate::graph::client::is_reference_already_present(error)
}

/// How adding one member or owner ended: Graph's "already exist" answer means there was
/// nothing to add.
fn addition(result: Result<()>) -> ItemOutcome {
    match result {
        Ok(()) => ItemOutcome::Succeeded,
        Err(error) if is_already_present(&error) => ItemOutcome::AlreadyMember,
        Err(error) => ItemOutcome::Failed(error),
    }
}

/// `PATCH /groups/{id}` binding the given directory objects as members.
fn bind_members(client: &mut GraphClient, group_id: &str, targets: &[Target]) -> Result<()> {
    let links: Vec<Value> =
        targets.iter().map(|t| json!(reference(client, "directoryObjects", &t.object_id))).collect();
    let url = client.url(&group_path(group_id), &Query::new());
    client.send(&GraphRequest::new(Method::PATCH, url).json(json!({"members@odata.bind": links})))?;
    Ok(())
}

/// Adds members with `members@odata.bind`, [`GRAPH_BULK_LIMIT`] a request. Graph applies a
/// request all or nothing, so a chunk it refuses (400, or 404 for an object that does not
/// exist) is retried one member at a time to find the culprits; members already in the
/// group land in `already_member`.
pub fn add_members_in_chunks(client: &mut GraphClient, group_id: &str, targets: &[Target], outcome: &mut BulkOutcome) {
    for (index, chunk) in targets.chunks(GRAPH_BULK_LIMIT).enumerate() {
        if client.out_of_time() {
            let rest = &targets[index * GRAPH_BULK_LIMIT..];
            outcome.not_attempted.extend(rest.iter().map(|t| t.given.clone()));
            break;
        }
        match bind_members(client, group_id, chunk) {
            Ok(()) => outcome.succeeded.extend(chunk.iter().map(|t| t.given.clone())),
            Err(error) => match chunk {
                [single] => outcome.record(single.id(), addition(Err(error))),
                _ if matches!(error.status, Some(400) | Some(404)) => {
                    outcome.each(client, chunk, Target::id, |client, target| {
                        addition(bind_members(client, group_id, std::slice::from_ref(target)))
                    });
                }
                _ => outcome.failed.extend(chunk.iter().map(|t| (t.given.clone(), error.clone()))),
            },
        }
    }
}

/// Adds owners one by one with `POST /groups/{id}/owners/$ref`; owners already there land
/// in `already_member`.
pub fn add_owners_by_ref(client: &mut GraphClient, group_id: &str, targets: &[Target], outcome: &mut BulkOutcome) {
    let url = client.url(&format!("{}/owners/$ref", group_path(group_id)), &Query::new());
    outcome.each(client, targets, Target::id, |client, target| {
        let body = json!({"@odata.id": reference(client, "directoryObjects", &target.object_id)});
        let request = GraphRequest::new(Method::POST, url.clone()).json(body).adds_one_reference();
        addition(client.send(&request).map(|_| ()))
    });
}

/// The checked create body: Graph's required members, the group kind's rules, and no
/// `owners`/`members` (they become `@odata.bind` lists).
fn create_body(input: &Input) -> Result<Map<String, Value>> {
    let display_name = input.required_str("displayName")?;
    if display_name.chars().count() > MAX_DISPLAY_NAME {
        return Err(ConnectorError::invalid_input(format!(
            "`displayName` is longer than {MAX_DISPLAY_NAME} characters"
        )));
    }
    let nickname = input.required_str("mailNickname")?;
    if nickname.chars().count() > MAX_MAIL_NICKNAME
        || nickname.chars().any(|c| !c.is_ascii() || c.is_ascii_control() || FORBIDDEN_IN_MAIL_NICKNAME.contains(&c))
    {
        return Err(ConnectorError::invalid_input(format!(
            "`mailNickname` must be at most {MAX_MAIL_NICKNAME} ASCII characters without spaces or any of @ ( ) [ ] ; : < > ,"
        )));
    }
    let mail_enabled = required_bool(input, "mailEnabled")?;
    let security_enabled = required_bool(input, "securityEnabled")?;
    let group_types = group_types(input)?;
    let unified = group_types.contains(&"Unified");
    let dynamic = group_types.contains(&"DynamicMembership");
    if unified && !mail_enabled {
        return Err(ConnectorError::invalid_input("`mailEnabled` must be true for a Microsoft 365 (Unified) group"));
    }
    if !unified && (mail_enabled || !security_enabled) {
        return Err(ConnectorError::invalid_input(
            "without \"Unified\" in `groupTypes` the group is a security group: `mailEnabled` must be false and \
             `securityEnabled` true (Graph cannot create mail-enabled security groups or distribution lists)",
        ));
    }
    let rule = input.optional_str("membershipRule")?;
    let state = input.optional_choice("membershipRuleProcessingState", &["On", "Paused"])?;
    if dynamic && rule.is_none() {
        return Err(ConnectorError::invalid_input("`membershipRule` is required for a DynamicMembership group"));
    }
    if !dynamic && (rule.is_some() || state.is_some()) {
        return Err(ConnectorError::invalid_input(
            "`membershipRule` and `membershipRuleProcessingState` need \"DynamicMembership\" in `groupTypes`",
        ));
    }
    let mut body = input.object().clone();
    body.remove("owners");
    body.remove("members");
    body.insert("mailEnabled".into(), json!(mail_enabled));
    body.insert("securityEnabled".into(), json!(security_enabled));
    if input.get("groupTypes").is_some() {
        body.insert("groupTypes".into(), json!(group_types));
    }
    if dynamic {
        body.insert("membershipRuleProcessingState".into(), json!(state.unwrap_or("On")));
    }
    if let Some(assignable) = input.optional_bool("isAssignableToRole")? {
        body.insert("isAssignableToRole".into(), json!(assignable));
    }
    Ok(body)
}

/// `groupTypes` in Graph's spelling (`[]` when absent).
fn group_types(input: &Input) -> Result<Vec<&'static str>> {
    let wrong = || ConnectorError::invalid_input(format!("`groupTypes` must be a list of {}", GROUP_TYPES.join(", ")));
    let items = match input.get("groupTypes") {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(wrong()),
    };
    let mut types = Vec::new();
    for item in items {
        let name = item.as_str().ok_or_else(wrong)?;
        let canonical = GROUP_TYPES.iter().find(|t| t.eq_ignore_ascii_case(name)).copied().ok_or_else(wrong)?;
        if !types.contains(&canonical) {
            types.push(canonical);
        }
    }
    Ok(types)
}

fn create(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let mut body = create_body(input)?;
    let owners = input.id_list("owners")?.unwrap_or_default();
    let members = input.id_list("members")?.unwrap_or_default();
    let dynamic = body
        .get("groupTypes")
        .and_then(Value::as_array)
        .is_some_and(|types| types.iter().any(|t| t == "DynamicMembership"));
    if dynamic && !members.is_empty() {
        return Err(ConnectorError::invalid_input(
            "`members` cannot be given for a DynamicMembership group: its members come from `membershipRule`",
        ));
    }
    let owners = resolve_all(client, owners)?;
    let members = resolve_all(client, members)?;
    // Graph binds at most 20 relationships in the create body, owners and members together;
    // owners go first so that the group is never created without its owners.
    let owners_in_body = owners.len().min(GRAPH_BULK_LIMIT);
    let members_in_body = members.len().min(GRAPH_BULK_LIMIT - owners_in_body);
    let (owners_now, owners_later) = owners.split_at(owners_in_body);
    let (members_now, members_later) = members.split_at(members_in_body);
    for (name, bound) in [("owners@odata.bind", owners_now), ("members@odata.bind", members_now)] {
        if !bound.is_empty() {
            let links: Vec<Value> =
                bound.iter().map(|t| json!(reference(client, "directoryObjects", &t.object_id))).collect();
            body.insert(name.into(), Value::Array(links));
        }
    }
    let display_name = body.get("displayName").cloned();
    let filter = format!("mailNickname eq {}", quote_literal(input.required_str("mailNickname")?));
    let url = client.url("groups", &Query::new());
    let request = GraphRequest::new(Method::POST, url).json(Value::Object(body));
    // After an unknown outcome, a group with this mailNickname and displayName is the one
    // this create made; one with another displayName is left for Graph to refuse.
    let created = client.create(&request, &|client| {
        let found = client.find_first("groups", &filter, None)?;
        Ok(found.filter(|group| group.get("displayName") == display_name.as_ref()))
    })?;
    if owners_later.is_empty() && members_later.is_empty() {
        return Ok(entity(created));
    }
    let group_id = created
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ConnectorError::upstream("Graph created the group but returned no `id`"))?
        .to_string();
    let mut later = Map::new();
    if !owners_later.is_empty() {
        let mut outcome = BulkOutcome::new();
        add_owners_by_ref(client, &group_id, owners_later, &mut outcome);
        later.insert("owners".into(), outcome.to_json());
    }
    if !members_later.is_empty() {
        let mut outcome = BulkOutcome::new();
        add_members_in_chunks(client, &group_id, members_later, &mut outcome);
        later.insert("members".into(), outcome.to_json());
    }
    let mut output = created;
    output.insert("addedAfterCreation".into(), Value::Object(later));
    Ok(entity(output))
}

fn get(client: &mut GraphClient, input: &Input) -> Result<Entity> {
    let group_id = input.required_str("groupId")?;
    let mut query = Query::new();
    query.push_opt("$select", input.optional_str("select")?);
    let url = client.url(&group_path(group_id), &query);
    client.get_entity(url, false)
}

fn update(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let group_id = input.required_str("groupId")?;
    let body = input.required_object("jsonBody")?;
    if body.is_empty() {
        return Err(ConnectorError::invalid_input("`jsonBody` must name at least one property to change"));
    }
    let url = client.url(&group_path(group_id), &Query::new());
    client.send(&GraphRequest::new(Method::PATCH, url).json(Value::Object(body.clone())))?;
    Ok(success(&[("groupId", group_id)]))
}

fn delete(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let group_id = input.required_str("groupId")?;
    let url = client.url(&group_path(group_id), &Query::new());
    client.send(&GraphRequest::new(Method::DELETE, url))?;
    Ok(success(&[("groupId", group_id)]))
}

fn list(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let list = ListQuery::read(input)?;
    let url = client.url("groups", &list.query);
    client.list(url, list.eventual, list.max_items)
}

fn list_members(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    list_membership(client, input, "members")
}

fn list_transitive_members(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    list_membership(client, input, "transitiveMembers")
}

/// Lists a group's `members` or `transitiveMembers`, optionally cast to one kind; every page
/// is read unless `maxItems` is given.
fn list_membership(client: &mut GraphClient, input: &Input, relationship: &str) -> Result<Listing> {
    let group_id = input.required_str("groupId")?;
    let member_type = input.optional_choice("type", MEMBER_TYPES)?;
    let mut list = ListQuery::read(input)?;
    if input.optional_u64("maxItems")?.is_none() {
        // Members have no 1000-item ceiling: without maxItems every page is read. ListQuery's
        // default (1000) is above one page, so it put no `$top` in the query either.
        list.max_items = 0;
    }
    let mut path = format!("{}/{relationship}", group_path(group_id));
    if let Some(member_type) = member_type {
        path.push_str("/microsoft.graph.");
        path.push_str(member_type);
        // A cast combined with other options is an advanced query; a plain cast is not.
        // (`count` and `search` already made the ListQuery an advanced one.)
        if !list.eventual && (list.query.has("$filter") || list.query.has("$orderby")) {
            list.eventual = true;
            list.query.push("$count", "true");
        }
    }
    let url = client.url(&path, &list.query);
    client.list(url, list.eventual, list.max_items)
}

fn list_owners(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let group_id = input.required_str("groupId")?;
    let list = ListQuery::read(input)?;
    let url = client.url(&format!("{}/owners", group_path(group_id)), &list.query);
    client.list(url, list.eventual, list.max_items)
}

fn add_members(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let group_id = input.required_str("groupId")?;
    let kind = input.optional_choice("directoryObject", MEMBER_KINDS)?.unwrap_or("Users");
    let ids = required_id_list(input, "members")?;
    let mut outcome = BulkOutcome::new();
    let targets = resolve_targets(client, ids, kind == "Users", &mut outcome);
    add_members_in_chunks(client, group_id, &targets, &mut outcome);
    Ok(outcome.to_json())
}

fn remove_members(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let group_id = input.required_str("groupId")?;
    let ids = required_id_list(input, "memberIds")?;
    remove_references(client, group_id, "members", ids, || ItemOutcome::NotMember, ItemOutcome::Failed)
}

fn remove_owners(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let group_id = input.required_str("groupId")?;
    let ids = required_id_list(input, "ownerIds")?;
    remove_references(
        client,
        group_id,
        "owners",
        ids,
        || ItemOutcome::NotOwner,
        |error| ItemOutcome::Failed(last_owner_conflict(error)),
    )
}

/// Removes directory references one by one (`DELETE /groups/{id}/{relationship}/{objectId}/$ref`),
/// in the order given, userPrincipalNames resolved first: a 404 means there was nothing to
/// remove (`absent`), any other refusal goes through `failed`.
fn remove_references(
    client: &mut GraphClient,
    group_id: &str,
    relationship: &str,
    ids: Vec<String>,
    absent: fn() -> ItemOutcome,
    failed: impl Fn(ConnectorError) -> ItemOutcome,
) -> Result<Value> {
    let mut outcome = BulkOutcome::new();
    let targets = resolve_targets(client, ids, true, &mut outcome);
    outcome.each(client, &targets, Target::id, |client, target| {
        let path = format!("{}/{relationship}/{}/$ref", group_path(group_id), encode_segment(&target.object_id));
        let url = client.url(&path, &Query::new());
        match client.send(&GraphRequest::new(Method::DELETE, url)) {
            Ok(_) => ItemOutcome::Succeeded,
            Err(error) if error.status == Some(404) => absent(),
            Err(error) => failed(error),
        }
    });
    Ok(outcome.to_json())
}

/// Graph keeps a group's last owner that is a user: it refuses to remove it with 400
/// `Request_BadRequest` ("The group must have at least one owner, hence this owner cannot be
/// removed."), which is a `conflict` with the group's state, not bad input. Graph's status,
/// code and request id are kept; any other error is returned as it is.
fn last_owner_conflict(error: ConnectorError) -> ConnectorError {
    let is_last_owner = error.status == Some(400)
        && error.graph_code.as_deref() == Some("Request_BadRequest")
        && error.message.to_ascii_lowercase().contains("at least one owner");
    if !is_last_owner {
        return error;
    }
    ConnectorError {
        code: crate::error::ErrorCode::Conflict,
        message: format!(
            "the group must keep at least one user owner: add another owner first, then remove this one (Graph: {})",
            error.message
        ),
        ..error
    }
}

fn delta(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let mut query = Query::new();
    query.push_opt("$select", input.optional_str("select")?);
    query.push_opt("$filter", input.optional_str("filter")?.map(checked_delta_filter).transpose()?);
    let minimal = input.optional_bool("returnMinimal")?.unwrap_or(false);
    let headers = if minimal { vec![("Prefer", "return=minimal".to_string())] } else { Vec::new() };
    delta_round(client, input, "groups", query, &["select", "filter"], headers)
}

/// The `$filter` of `groups/delta`: Graph supports only `id eq '{id}'` terms joined by `or`,
/// at most [`MAX_DELTA_FILTER_IDS`] of them; anything else is refused before sending.
fn checked_delta_filter(filter: &str) -> Result<&str> {
    let wrong = |detail: &str| {
        ConnectorError::invalid_input(format!(
            "`filter` of groups.delta must be `id eq '{{id}}'` terms joined by `or` (at most \
             {MAX_DELTA_FILTER_IDS}), as Graph supports: {detail}"
        ))
    };
    let mut terms = 0;
    for term in filter.split(" or ") {
        let term = term.trim();
        let id = term
            .strip_prefix("id eq '")
            .and_then(|rest| rest.strip_suffix('\''))
            .ok_or_else(|| wrong(&format!("`{term}` is not such a term")))?;
        if id.is_empty() || id.contains('\'') {
            return Err(wrong(&format!("`{term}` does not quote one id")));
        }
        terms += 1;
    }
    if terms > MAX_DELTA_FILTER_IDS {
        return Err(wrong(&format!("it has {terms}")));
    }
    Ok(filter)
}

fn add_owners(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let group_id = input.required_str("groupId")?;
    let ids = required_id_list(input, "ownerIds")?;
    let mut outcome = BulkOutcome::new();
    let targets = resolve_targets(client, ids, true, &mut outcome);
    add_owners_by_ref(client, group_id, &targets, &mut outcome);
    Ok(outcome.to_json())
}

#[cfg(test)]
mod tests {
    use crate::graph::transport::scripted::{body_json, connected, token_config, ScriptedTransport, SentLog};
    use serde_json::{json, Value};

    const GROUP: &str = "02bd9fd6-8f93-4758-87c3-1fb73740a315";
    const BASE: &str = "https://graph.microsoft.com/v1.0";

    fn graph_error(code: &str, message: &str) -> Value {
        json!({"error": {"code": code, "message": message,
            "innerError": {"request-id": "7f3b1c0e-5f0a-4d1c-9d55-1a2b3c4d5e6f", "date": "2024-05-02T10:00:00"}}})
    }

    fn already_member() -> Value {
        graph_error(
            "Request_BadRequest",
            "One or more added object references already exist for the following modified properties: 'members'.",
        )
    }

    fn member_id(n: usize) -> String {
        format!("00000000-0000-0000-0000-{n:012}")
    }

    fn directory_object(id: &str) -> Value {
        json!(format!("{BASE}/directoryObjects/{id}"))
    }

    fn sent(log: &SentLog) -> Vec<(String, String, Option<String>, Value)> {
        log.borrow()
            .iter()
            .map(|request| {
                let consistency = request.header_value("consistencylevel").map(str::to_string);
                let body = if request.body().is_empty() { Value::Null } else { body_json(request) };
                (request.method().to_string(), request.uri().to_string(), consistency, body)
            })
            .collect()
    }

    #[test]
    fn add_members_splits_a_comma_separated_string_as_add_sponsor_does() {
        let script = ScriptedTransport::new().respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let members = format!("{}, {},,{}", member_id(1), member_id(2), member_id(1));
        let output = connector
            .invoke(
                "groups.add-members",
                &json!({"groupId": GROUP, "directoryObject": "Devices", "members": members}).to_string(),
            )
            .unwrap();
        let requests = sent(&log);
        assert_eq!(requests.len(), 1);
        assert_eq!(
            requests[0].3,
            json!({"members@odata.bind": [directory_object(&member_id(1)), directory_object(&member_id(2))]})
        );
        assert_eq!(output["succeeded"], json!([member_id(1), member_id(2)]));
    }

    #[test]
    fn id_lists_refuse_dot_segments_and_commas_inside_list_items() {
        for (action, input, expected) in [
            (
                "groups.remove-members",
                json!({"groupId": GROUP, "memberIds": [member_id(1), ".."]}),
                "`memberIds[1]` must not be `..`",
            ),
            ("groups.add-owners", json!({"groupId": GROUP, "ownerIds": "."}), "`ownerIds[0]` must not be `.`"),
            (
                "groups.add-members",
                json!({"groupId": GROUP, "members": [format!("{},{}", member_id(1), member_id(2))]}),
                "`members[0]` holds a comma",
            ),
            ("groups.delete", json!({"groupId": ".."}), "`groupId` must not be `..`"),
        ] {
            let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
            let error = connector.invoke(action, &input.to_string()).unwrap_err();
            assert_eq!(error.code, crate::ErrorCode::InvalidInput, "{action}");
            assert!(error.message.starts_with(expected), "{action}: {}", error.message);
            assert!(log.borrow().is_empty(), "{action}");
        }
    }

    #[test]
    fn add_members_retries_a_refused_chunk_member_by_member() {
        let ids: Vec<String> = (1..=45).map(member_id).collect();
        let mut script = ScriptedTransport::new().respond(204, Value::Null).respond(
            400,
            graph_error("Request_BadRequest", "Invalid object identifier '00000000-0000-0000-0000-000000000025'."),
        );
        for n in 21..=40 {
            script = match n {
                25 => script.respond(404, graph_error("Request_ResourceNotFound", "Resource does not exist.")),
                33 => script.respond(400, already_member()),
                _ => script.respond(204, Value::Null),
            };
        }
        script = script.respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let output = connector
            .invoke(
                "groups.add-members",
                &json!({"groupId": GROUP, "directoryObject": "Users", "members": ids}).to_string(),
            )
            .unwrap();

        let requests = sent(&log);
        assert_eq!(requests.len(), 1 + 1 + 20 + 1);
        for (method, url, consistency, _) in &requests {
            assert_eq!(
                (method.as_str(), url.as_str(), consistency),
                ("PATCH", &*format!("{BASE}/groups/{GROUP}"), &None)
            );
        }
        let bind = |range: std::ops::RangeInclusive<usize>| json!({"members@odata.bind": range.map(|n| directory_object(&member_id(n))).collect::<Vec<_>>()});
        assert_eq!(requests[0].3, bind(1..=20));
        assert_eq!(requests[1].3, bind(21..=40));
        assert_eq!(requests[2].3, bind(21..=21));
        assert_eq!(requests[21].3, bind(40..=40));
        assert_eq!(requests[22].3, bind(41..=45));

        let succeeded: Vec<String> = (1..=45).filter(|n| *n != 25 && *n != 33).map(member_id).collect();
        assert_eq!(output["success"], json!(false));
        assert_eq!(output["succeeded"], json!(succeeded));
        assert_eq!(output["alreadyMember"], json!([member_id(33)]));
        assert_eq!(output["failed"][0]["id"], json!(member_id(25)));
        assert_eq!(output["failed"][0]["error"]["code"], json!("not-found"));
        assert_eq!(output["failed"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn add_members_resolves_user_principal_names_and_refuses_other_kinds() {
        let script = ScriptedTransport::new().respond(200, json!({"id": member_id(7)})).respond(400, already_member());
        let (mut connector, log) = connected(token_config(), script);
        let output = connector
            .invoke("groups.add-members", &json!({"groupId": GROUP, "members": ["o'neil@contoso.com"]}).to_string())
            .unwrap();
        let requests = sent(&log);
        assert_eq!(requests[0].1, format!("{BASE}/users/o%27neil@contoso.com?$select=id"));
        assert_eq!(requests[1].3, json!({"members@odata.bind": [directory_object(&member_id(7))]}));
        assert_eq!(
            output,
            json!({"success": true, "succeeded": [], "failed": [], "alreadyMember": ["o'neil@contoso.com"]})
        );

        let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
        let error = connector
            .invoke(
                "groups.add-members",
                &json!({"groupId": GROUP, "directoryObject": "Groups", "members": ["x"]}).to_string(),
            )
            .unwrap_err();
        assert_eq!(error.code.as_str(), "invalid-input");
        assert!(error.message.contains("`directoryObject`"), "{}", error.message);
        let error =
            connector.invoke("groups.add-members", &json!({"groupId": GROUP, "members": []}).to_string()).unwrap_err();
        assert!(error.message.contains("`members`"), "{}", error.message);
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn create_binds_twenty_references_owners_first_and_adds_the_rest_afterwards() {
        let owners: Vec<String> = (1..=22).map(member_id).collect();
        let members: Vec<String> = (101..=103).map(member_id).collect();
        let created = json!({"@odata.context": "ctx", "id": GROUP, "displayName": "Big team"});
        let script = ScriptedTransport::new()
            .respond(201, created)
            .respond(204, Value::Null)
            .respond(400, graph_error("Request_BadRequest", "One or more added object references already exist for the following modified properties: 'owners'."))
            .respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"displayName": "Big team", "mailNickname": "bigteam", "mailEnabled": false,
            "securityEnabled": true, "groupTypes": [], "owners": owners, "members": members});
        let output = connector.invoke("groups.create", &input.to_string()).unwrap();

        let requests = sent(&log);
        assert_eq!(requests.len(), 4);
        assert_eq!((requests[0].0.as_str(), requests[0].1.as_str()), ("POST", &*format!("{BASE}/groups")));
        let bound_owners: Vec<Value> = (1..=20).map(|n| directory_object(&member_id(n))).collect();
        assert_eq!(
            requests[0].3,
            json!({"displayName": "Big team", "mailNickname": "bigteam", "mailEnabled": false,
                "securityEnabled": true, "groupTypes": [], "owners@odata.bind": bound_owners})
        );
        assert_eq!(
            (requests[1].0.as_str(), requests[1].1.as_str()),
            ("POST", &*format!("{BASE}/groups/{GROUP}/owners/$ref"))
        );
        assert_eq!(requests[1].3, json!({"@odata.id": directory_object(&member_id(21))}));
        assert_eq!(requests[2].3, json!({"@odata.id": directory_object(&member_id(22))}));
        assert_eq!((requests[3].0.as_str(), requests[3].1.as_str()), ("PATCH", &*format!("{BASE}/groups/{GROUP}")));
        let later_members: Vec<Value> = (101..=103).map(|n| directory_object(&member_id(n))).collect();
        assert_eq!(requests[3].3, json!({"members@odata.bind": later_members}));

        assert_eq!(output.get("@odata.context"), None);
        assert_eq!(output["id"], json!(GROUP));
        assert_eq!(
            output["addedAfterCreation"],
            json!({
                "owners": {"success": true, "succeeded": [member_id(21)], "failed": [], "alreadyMember": [member_id(22)]},
                "members": {"success": true, "succeeded": members, "failed": []},
            })
        );
    }

    #[test]
    fn create_fills_the_twenty_slots_with_owners_then_members() {
        let script = ScriptedTransport::new().respond(201, json!({"id": GROUP})).respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let owners: Vec<String> = (1..=3).map(member_id).collect();
        let members: Vec<String> = (101..=120).map(member_id).collect();
        let input = json!({"displayName": "Team", "mailNickname": "team", "mailEnabled": true,
            "securityEnabled": false, "groupTypes": ["Unified"], "owners": owners, "members": members});
        connector.invoke("groups.create", &input.to_string()).unwrap();
        let requests = sent(&log);
        assert_eq!(requests[0].3["owners@odata.bind"].as_array().map(Vec::len), Some(3));
        assert_eq!(requests[0].3["members@odata.bind"].as_array().map(Vec::len), Some(17));
        let later: Vec<Value> = (118..=120).map(|n| directory_object(&member_id(n))).collect();
        assert_eq!(requests[1].3, json!({"members@odata.bind": later}));
    }

    #[test]
    fn create_checks_the_group_kind_before_sending() {
        let cases = [
            (json!({"mailNickname": "a", "mailEnabled": false, "securityEnabled": true}), "`displayName`"),
            (
                json!({"displayName": "A", "mailNickname": "a b", "mailEnabled": false, "securityEnabled": true}),
                "`mailNickname`",
            ),
            (json!({"displayName": "A", "mailNickname": "a", "securityEnabled": true}), "`mailEnabled`"),
            (
                json!({"displayName": "A", "mailNickname": "a", "mailEnabled": false, "securityEnabled": "maybe"}),
                "`securityEnabled`",
            ),
            (
                json!({"displayName": "A", "mailNickname": "a", "mailEnabled": true, "securityEnabled": true}),
                "security group",
            ),
            (
                json!({"displayName": "A", "mailNickname": "a", "mailEnabled": false, "securityEnabled": false, "groupTypes": ["Unified"]}),
                "`mailEnabled`",
            ),
            (
                json!({"displayName": "A", "mailNickname": "a", "mailEnabled": false, "securityEnabled": true, "groupTypes": ["DynamicMembership"]}),
                "`membershipRule`",
            ),
            (
                json!({"displayName": "A", "mailNickname": "a", "mailEnabled": false, "securityEnabled": true, "membershipRule": "x"}),
                "DynamicMembership",
            ),
            (
                json!({"displayName": "A", "mailNickname": "a", "mailEnabled": false, "securityEnabled": true, "groupTypes": ["Distribution"]}),
                "`groupTypes`",
            ),
            (
                json!({"displayName": "A", "mailNickname": "a", "mailEnabled": false, "securityEnabled": true,
                "groupTypes": ["DynamicMembership"], "membershipRule": "x", "members": ["m"]}),
                "`members`",
            ),
        ];
        for (input, field) in cases {
            let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
            let error = connector.invoke("groups.create", &input.to_string()).unwrap_err();
            assert_eq!(error.code.as_str(), "invalid-input", "{input}");
            assert!(error.message.contains(field), "{input}: {}", error.message);
            assert!(log.borrow().is_empty(), "{input}");
        }
    }

    #[test]
    fn create_dynamic_group_defaults_the_rule_processing_to_on() {
        let script = ScriptedTransport::new().respond(201, json!({"id": GROUP}));
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"displayName": "Marketing", "mailNickname": "marketing", "mailEnabled": "false",
            "securityEnabled": "true", "groupTypes": ["dynamicmembership"], "membershipRule": "user.department -eq \"Marketing\""});
        connector.invoke("groups.create", &input.to_string()).unwrap();
        assert_eq!(
            sent(&log)[0].3,
            json!({"displayName": "Marketing", "mailNickname": "marketing", "mailEnabled": false, "securityEnabled": true,
                "groupTypes": ["DynamicMembership"], "membershipRule": "user.department -eq \"Marketing\"",
                "membershipRuleProcessingState": "On"})
        );
    }

    #[test]
    fn list_members_sends_consistency_only_when_a_cast_is_combined() {
        let page = json!({"value": []});
        let script = ScriptedTransport::new()
            .respond(200, page.clone())
            .respond(200, page.clone())
            .respond(200, page.clone())
            .respond(200, page);
        let (mut connector, log) = connected(token_config(), script);
        connector.invoke("groups.list-members", &json!({"groupId": GROUP, "type": "user"}).to_string()).unwrap();
        connector
            .invoke(
                "groups.list-members",
                &json!({"groupId": GROUP, "type": "device", "filter": "accountEnabled eq true"}).to_string(),
            )
            .unwrap();
        connector.invoke("groups.list-members", &json!({"groupId": GROUP, "count": true}).to_string()).unwrap();
        connector
            .invoke(
                "groups.list-members",
                &json!({"groupId": GROUP, "type": "group", "count": false, "maxItems": ""}).to_string(),
            )
            .unwrap();
        let requests = sent(&log);
        assert_eq!(requests[0].1, format!("{BASE}/groups/{GROUP}/members/microsoft.graph.user"));
        assert_eq!(requests[0].2, None);
        assert_eq!(
            requests[1].1,
            format!(
                "{BASE}/groups/{GROUP}/members/microsoft.graph.device?$filter=accountEnabled%20eq%20true&$count=true"
            )
        );
        assert_eq!(requests[1].2.as_deref(), Some("eventual"));
        assert_eq!(requests[2].1, format!("{BASE}/groups/{GROUP}/members?$count=true"));
        assert_eq!(requests[2].2.as_deref(), Some("eventual"));
        assert_eq!(requests[3].1, format!("{BASE}/groups/{GROUP}/members/microsoft.graph.group"));
        assert_eq!(requests[3].2, None);
    }

    #[test]
    fn list_members_reads_every_page_without_max_items() {
        let link = |n: u32| format!("{BASE}/groups/{GROUP}/members?$skiptoken=page{n}");
        let item = |n: u32| json!({"@odata.type": "#microsoft.graph.user", "id": member_id(n as usize)});
        let script = ScriptedTransport::new()
            .respond(200, json!({"value": [item(1)], "@odata.nextLink": link(2)}))
            .respond(200, json!({"value": [item(2)], "@odata.nextLink": link(3)}))
            .respond(200, json!({"value": [item(3)]}));
        let (mut connector, log) = connected(token_config(), script);
        let output = connector.invoke("groups.list-members", &json!({"groupId": GROUP}).to_string()).unwrap();
        assert_eq!(output, json!({"value": [item(1), item(2), item(3)]}));
        assert_eq!(sent(&log)[0].1, format!("{BASE}/groups/{GROUP}/members"));
        assert_eq!(sent(&log)[2].1, link(3));
    }

    #[test]
    fn remove_members_reports_non_members_and_encodes_ids() {
        let script = ScriptedTransport::new()
            .respond(204, Value::Null)
            .respond(404, graph_error("Request_ResourceNotFound", "Resource does not exist."))
            .respond(
                403,
                graph_error("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
            );
        let (mut connector, log) = connected(token_config(), script);
        let output = connector
            .invoke("groups.remove-members", &json!({"groupId": "g/1", "memberIds": ["a", "b?c", "d"]}).to_string())
            .unwrap();
        let requests = sent(&log);
        assert_eq!(
            (requests[0].0.as_str(), requests[0].1.as_str()),
            ("DELETE", &*format!("{BASE}/groups/g%2F1/members/a/$ref"))
        );
        assert_eq!(requests[1].1, format!("{BASE}/groups/g%2F1/members/b%3Fc/$ref"));
        assert_eq!(output["succeeded"], json!(["a"]));
        assert_eq!(output["notMember"], json!(["b?c"]));
        assert_eq!(output["failed"][0]["id"], json!("d"));
        assert_eq!(output["failed"][0]["error"]["code"], json!("forbidden"));
        assert_eq!(output["success"], json!(false));
    }

    fn last_owner() -> Value {
        graph_error("Request_BadRequest", "The group must have at least one owner, hence this owner cannot be removed.")
    }

    #[test]
    fn remove_owners_reports_each_id_and_keeps_trying_after_the_last_owner_refusal() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"id": member_id(1)}))
            .respond(404, graph_error("Request_ResourceNotFound", "Resource 'x' does not exist."))
            .respond(400, last_owner())
            .respond(
                400,
                graph_error("Request_BadRequest", "Invalid object identifier '00000000-0000-0000-0000-000000000003'."),
            )
            .respond(204, Value::Null)
            .respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"groupId": "g/1", "ownerIds": ["adele@contoso.com", member_id(2), member_id(3), "b?c", member_id(4), member_id(2)]});
        let output = connector.invoke("groups.remove-owners", &input.to_string()).unwrap();
        let requests = sent(&log);
        assert_eq!(requests.len(), 6, "the duplicate id is sent once, nothing is retried");
        assert_eq!(requests[0].1, format!("{BASE}/users/adele@contoso.com?$select=id"));
        let owner_ref = |id: &str| format!("{BASE}/groups/g%2F1/owners/{id}/$ref");
        assert_eq!((requests[1].0.as_str(), requests[1].1.clone()), ("DELETE", owner_ref(&member_id(1))));
        assert_eq!(requests[2].1, owner_ref(&member_id(2)));
        assert_eq!(requests[3].1, owner_ref(&member_id(3)));
        assert_eq!(requests[4].1, owner_ref("b%3Fc"));
        assert_eq!(requests[5].1, owner_ref(&member_id(4)));
        assert_eq!(output["success"], json!(false));
        assert_eq!(output["succeeded"], json!(["b?c", member_id(4)]));
        assert_eq!(output["notOwner"], json!(["adele@contoso.com"]));
        assert_eq!(output.get("notMember"), None);
        let conflict = &output["failed"][0];
        assert_eq!(conflict["id"], json!(member_id(2)));
        assert_eq!(conflict["error"]["code"], json!("conflict"));
        assert_eq!(conflict["error"]["status"], json!(400));
        assert_eq!(conflict["error"]["graphCode"], json!("Request_BadRequest"));
        assert_eq!(conflict["error"]["requestId"], json!("7f3b1c0e-5f0a-4d1c-9d55-1a2b3c4d5e6f"));
        let message = conflict["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("the group must keep at least one user owner: add another owner first"),
            "{message}"
        );
        assert!(message.contains("hence this owner cannot be removed"), "{message}");
        let other = &output["failed"][1];
        assert_eq!(
            (other["id"].clone(), other["error"]["code"].as_str()),
            (json!(member_id(3)), Some("invalid-input"))
        );
        assert_eq!(output["failed"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn remove_owners_reports_an_unresolved_name_without_calling_graph_for_it() {
        let script = ScriptedTransport::new()
            .respond(404, graph_error("Request_ResourceNotFound", "Resource 'nobody@contoso.com' does not exist."))
            .respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"groupId": GROUP, "ownerIds": "nobody@contoso.com, u-2"});
        let output = connector.invoke("groups.remove-owners", &input.to_string()).unwrap();
        let requests = sent(&log);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[1].1, format!("{BASE}/groups/{GROUP}/owners/u-2/$ref"));
        assert_eq!(output["succeeded"], json!(["u-2"]));
        assert_eq!(output["failed"][0]["id"], json!("nobody@contoso.com"));
        assert_eq!(output["failed"][0]["error"]["code"], json!("not-found"));
    }

    #[test]
    fn remove_owners_refuses_bad_input_naming_the_field() {
        for (input, expected) in [
            (json!({"groupId": GROUP}), "`ownerIds` is required and must name at least one id"),
            (json!({"groupId": GROUP, "ownerIds": []}), "`ownerIds` is required and must name at least one id"),
            (
                json!({"groupId": GROUP, "ownerIds": ["a", ".."]}),
                "`ownerIds[1]` must not be `..`: a dot segment is not an id",
            ),
            (json!({"ownerIds": ["a"]}), "`groupId` is required"),
            (json!({"groupId": "..", "ownerIds": ["a"]}), "`groupId` must not be `..`: a dot segment is not an id"),
        ] {
            let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
            let error = connector.invoke("groups.remove-owners", &input.to_string()).unwrap_err();
            assert_eq!((error.code.as_str(), error.message.as_str()), ("invalid-input", expected), "{input}");
            assert!(log.borrow().is_empty());
        }
    }

    #[test]
    fn a_dry_run_of_remove_owners_resolves_names_and_plans_each_delete() {
        let script = ScriptedTransport::new().respond(200, json!({"id": member_id(1)}));
        let (mut connector, log) = connected(token_config(), script);
        let options = crate::connector::InvokeOptions { dry_run: true, ..Default::default() };
        let input = json!({"groupId": GROUP, "ownerIds": ["adele@contoso.com", member_id(2)]});
        let output = connector.invoke_with("groups.remove-owners", &input.to_string(), &options).unwrap();
        assert_eq!(sent(&log).len(), 1, "only the name lookup is sent");
        assert_eq!(
            output,
            json!({"dryRun": true, "plan": [
                {"method": "DELETE", "url": format!("{BASE}/groups/{GROUP}/owners/{}/$ref", member_id(1))},
                {"method": "DELETE", "url": format!("{BASE}/groups/{GROUP}/owners/{}/$ref", member_id(2))},
            ]})
        );
    }

    #[test]
    fn list_transitive_members_follows_the_list_members_rules() {
        let link = format!("{BASE}/groups/{GROUP}/transitiveMembers?$skiptoken=p2");
        let script = ScriptedTransport::new()
            .respond(200, json!({"value": [{"id": "a"}], "@odata.nextLink": link}))
            .respond(200, json!({"value": [{"id": "b"}]}))
            .respond(200, json!({"@odata.count": 2, "value": [{"id": "g1"}, {"id": "g2"}]}))
            .respond(200, json!({"value": []}));
        let (mut connector, log) = connected(token_config(), script);
        let all = connector.invoke("groups.list-transitive-members", &json!({"groupId": GROUP}).to_string()).unwrap();
        assert_eq!(all, json!({"value": [{"id": "a"}, {"id": "b"}]}));
        let groups = connector
            .invoke(
                "groups.list-transitive-members",
                &json!({"groupId": GROUP, "type": "group", "count": true}).to_string(),
            )
            .unwrap();
        assert_eq!(groups, json!({"value": [{"id": "g1"}, {"id": "g2"}], "count": 2}));
        connector
            .invoke("groups.list-transitive-members", &json!({"groupId": GROUP, "type": "user"}).to_string())
            .unwrap();
        let requests = sent(&log);
        assert_eq!(
            (requests[0].1.as_str(), &requests[0].2),
            (&*format!("{BASE}/groups/{GROUP}/transitiveMembers"), &None)
        );
        assert_eq!(requests[1].1, link);
        assert_eq!(requests[2].1, format!("{BASE}/groups/{GROUP}/transitiveMembers/microsoft.graph.group?$count=true"));
        assert_eq!(requests[2].2.as_deref(), Some("eventual"));
        assert_eq!(requests[3].1, format!("{BASE}/groups/{GROUP}/transitiveMembers/microsoft.graph.user"));
        assert_eq!(requests[3].2, None);

        let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
        let error = connector
            .invoke("groups.list-transitive-members", &json!({"groupId": GROUP, "type": "contact"}).to_string())
            .unwrap_err();
        assert!(
            error.message.starts_with("`type` must be one of user, group, device, servicePrincipal"),
            "{}",
            error.message
        );
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn delta_reads_a_full_round_then_an_incremental_round_with_membership_changes() {
        let next = format!("{BASE}/groups/delta?$skiptoken=page2");
        let delta_link = format!("{BASE}/groups/delta?$deltatoken=tok1");
        let changes = json!([
            {"id": "g1", "displayName": "Sales", "members@delta": [
                {"@odata.type": "#microsoft.graph.user", "id": "u3"},
                {"@odata.type": "#microsoft.graph.user", "id": "u1", "@removed": {"reason": "deleted"}}]},
            {"id": "g2", "@removed": {"reason": "changed"}},
        ]);
        let script = ScriptedTransport::new()
            .respond(200, json!({"value": [{"id": "g1", "members@delta": [{"id": "u1"}]}], "@odata.nextLink": next}))
            .respond(200, json!({"value": [{"id": "g2"}], "@odata.deltaLink": delta_link}))
            .respond(
                200,
                json!({"value": changes, "@odata.deltaLink": format!("{BASE}/groups/delta?$deltatoken=tok2")}),
            );
        let (mut connector, log) = connected(token_config(), script);
        let full = connector
            .invoke(
                "groups.delta",
                &json!({"select": "displayName,members", "returnMinimal": true, "maxItems": 0}).to_string(),
            )
            .unwrap();
        assert_eq!(
            full,
            json!({"value": [{"id": "g1", "members@delta": [{"id": "u1"}]}, {"id": "g2"}], "deltaLink": delta_link})
        );
        let incremental = connector
            .invoke("groups.delta", &json!({"deltaLink": delta_link, "returnMinimal": "true"}).to_string())
            .unwrap();
        assert_eq!(
            incremental,
            json!({"value": changes, "deltaLink": format!("{BASE}/groups/delta?$deltatoken=tok2")})
        );
        let sent = log.borrow();
        let urls: Vec<&str> = sent.iter().map(|request| request.uri()).collect();
        assert_eq!(urls, [&*format!("{BASE}/groups/delta?$select=displayName,members"), &*next, &*delta_link]);
        for request in sent.iter() {
            assert_eq!(request.header_value("prefer"), Some("return=minimal"), "{}", request.uri());
            assert_eq!(request.method(), "GET");
        }
    }

    #[test]
    fn delta_sends_a_filter_of_ids_and_no_prefer_unless_asked() {
        let script = ScriptedTransport::new()
            .respond(200, json!({"value": [], "@odata.deltaLink": format!("{BASE}/groups/delta?$deltatoken=t")}));
        let (mut connector, log) = connected(token_config(), script);
        let filter = format!("id eq '{GROUP}' or id eq '{}'", member_id(1));
        let output = connector.invoke("groups.delta", &json!({"filter": filter}).to_string()).unwrap();
        assert_eq!(output["deltaLink"], json!(format!("{BASE}/groups/delta?$deltatoken=t")));
        let sent = log.borrow();
        assert_eq!(
            sent[0].uri(),
            format!("{BASE}/groups/delta?$filter=id%20eq%20'{GROUP}'%20or%20id%20eq%20'{}'&$top=1000", member_id(1))
                .replace("&$top=1000", "")
        );
        assert_eq!(sent[0].header_value("prefer"), None);
    }

    #[test]
    fn delta_refuses_bad_input_before_any_request() {
        let too_many = (0..51).map(|n| format!("id eq '{}'", member_id(n))).collect::<Vec<_>>().join(" or ");
        for (input, expected) in [
            (json!({"filter": "displayName eq 'x'"}), "`filter` of groups.delta must be `id eq '{id}'` terms"),
            (json!({"filter": too_many}), "`filter` of groups.delta must be"),
            (json!({"filter": "id eq ''"}), "`filter` of groups.delta must be"),
            (
                json!({"deltaLink": format!("{BASE}/users/delta?$deltatoken=x")}),
                "`deltaLink` must be a deltaLink or nextLink returned by groups.delta",
            ),
            (json!({"deltaLink": "https://evil.example/v1.0/groups/delta?$deltatoken=x"}), "`deltaLink` must be"),
            (
                json!({"deltaLink": format!("{BASE}/groups/delta?$deltatoken=x"), "select": "id", "filter": "id eq 'a'"}),
                "`select` and `filter` cannot be combined with `deltaLink`",
            ),
            (json!({"returnMinimal": "yes"}), "`returnMinimal` must be true or false"),
        ] {
            let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
            let error = connector.invoke("groups.delta", &input.to_string()).unwrap_err();
            assert_eq!(error.code.as_str(), "invalid-input", "{input}");
            assert!(error.message.starts_with(expected), "{input}: {}", error.message);
            assert!(log.borrow().is_empty(), "{input}");
        }
    }
}
