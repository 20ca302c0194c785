//! Guests: B2B invitations (`/invitations`) and sponsors of guest users.

use super::bulk::BulkOutcome;
use super::devices::add_reference;
use super::{entity, reference, resolve_user_id, success};
use crate::catalog::{Action, Handler};
use crate::error::{ConnectorError, Result};
use crate::graph::client::{GraphClient, GraphRequest};
use crate::graph::odata::{user_segment, Query};
use crate::json::input::Input;
use crate::json::schema;
use http::Method;
use serde_json::{json, Value};

/// The guest actions.
pub const ACTIONS: &[Action] = &[
    Action {
        id: "guests.invite",
        title: "Invite guest user",
        description: "Invites an external user into the organization (POST /invitations). \
                      `invitedUserEmailAddress` and `inviteRedirectUrl` are checked before sending; other \
                      invitation properties (`invitedUserMessageInfo`, `resetRedemption`, ...) are passed as given. \
                      No email is sent unless `sendInvitationMessage` is true.",
        category: "guests",
        permissions: &["User.Invite.All"],
        read_only: false,
        input_schema: invite_input,
        output_schema: || schema::entity("The invitation, with `inviteRedeemUrl`, `invitedUser.id` and `status`"),
        run: Handler::Value(invite),
    },
    Action {
        id: "guests.add-sponsor",
        title: "Add sponsor to guest user",
        description: "Adds sponsors to a user (POST /users/{id}/sponsors/$ref): users (`addType` USER, `sponsors` \
                      as one id, a comma-separated string or a list) or a group (`addType` GROUP, `groupId`). \
                      userPrincipalNames are first resolved to object ids. One sponsor gives \
                      `{\"success\", \"userId\", \"sponsors\"|\"groupId\"}`; several give the bulk output.",
        category: "guests",
        permissions: &["User.ReadWrite.All"],
        read_only: false,
        input_schema: add_sponsor_input,
        output_schema: || {
            json!({
                "type": "object",
                "oneOf": [schema::success_output(&["userId"]), BulkOutcome::schema()],
            })
        },
        run: Handler::Value(add_sponsor),
    },
];

fn invite_input() -> Value {
    schema::open_object(
        json!({
            "invitedUserEmailAddress": schema::string("Email address of the user to invite"),
            "inviteRedirectUrl": schema::string("Absolute http(s) URL the user lands on after redeeming"),
            "invitedUserDisplayName": schema::string("Display name of the invited user"),
            "sendInvitationMessage": schema::boolean("Send the invitation email (default false)"),
            "invitedUserType": schema::choice("Guest (default) or Member", &["Guest", "Member"]),
            "invitedUserMessageInfo": schema::entity("customizedMessageBody, ccRecipients, messageLanguage"),
        }),
        &["invitedUserEmailAddress", "inviteRedirectUrl"],
    )
}

fn add_sponsor_input() -> Value {
    schema::object(
        json!({
            "userId": schema::string("Object id or userPrincipalName of the (guest) user"),
            "addType": schema::choice("Kind of sponsor", &["USER", "GROUP"]),
            "sponsors": {
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                "description": "For USER: object ids or userPrincipalNames of the sponsors (one, comma-separated, or a list)",
            },
            "groupId": schema::string("For GROUP: object id of the sponsoring group"),
        }),
        &["userId", "addType"],
    )
}

fn invite(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let email = input.required_str("invitedUserEmailAddress")?;
    if !is_email_address(email) {
        return Err(ConnectorError::invalid_input(format!(
            "`invitedUserEmailAddress` must be an email address (got `{email}`)"
        )));
    }
    let redirect = input.required_str("inviteRedirectUrl")?;
    if !is_web_url(redirect) {
        return Err(ConnectorError::invalid_input(format!(
            "`inviteRedirectUrl` must be an absolute http or https URL (got `{redirect}`)"
        )));
    }
    input.optional_str("invitedUserDisplayName")?;
    let send_message = input.optional_bool("sendInvitationMessage")?;
    let user_type = input.optional_choice("invitedUserType", &["Guest", "Member"])?;
    if let Some(info) = input.get("invitedUserMessageInfo") {
        if !info.is_object() {
            return Err(ConnectorError::invalid_input("`invitedUserMessageInfo` must be a JSON object"));
        }
    }
    let mut body = input.object().clone();
    // Platforms send empty strings and nulls for fields the user left blank; Graph would reject them.
    body.retain(|_, value| !value.is_null() && value.as_str().is_none_or(|s| !s.trim().is_empty()));
    body.insert("invitedUserEmailAddress".into(), json!(email.trim()));
    body.insert("inviteRedirectUrl".into(), json!(redirect.trim()));
    if let Some(send_message) = send_message {
        body.insert("sendInvitationMessage".into(), json!(send_message));
    }
    if let Some(user_type) = user_type {
        body.insert("invitedUserType".into(), json!(user_type));
    }
    let url = client.url("invitations", &Query::new());
    let request = GraphRequest::new(Method::POST, url).json(Value::Object(body));
    let email = email.trim();
    let created = client.create(&request, &|client| existing_invitation(client, email, redirect.trim()))?;
    Ok(entity(created))
}

/// After an invitation whose outcome is unknown: the user Graph made for that email address,
/// if any, described as the invitation that made it. Graph sets an invited user's `mail` to
/// the invited address and lists it in `otherMails` (invitation-post.md, resources/user.md).
fn existing_invitation(
    client: &mut GraphClient,
    email: &str,
    redirect: &str,
) -> Result<Option<serde_json::Map<String, Value>>> {
    let literal = crate::graph::odata::quote_literal(email);
    let filter = format!("mail eq {literal} or otherMails/any(address:address eq {literal})");
    let select = "id,displayName,mail,userType,externalUserState";
    let Some(user) = client.find_first("users", &filter, Some(select))? else {
        return Ok(None);
    };
    let Some(id) = user.get("id").and_then(Value::as_str) else {
        return Err(ConnectorError::upstream("Graph listed a user without an `id`"));
    };
    // An invitation's status is `Completed` once redeemed; a user still waiting is `PendingAcceptance`.
    let status = match user.get("externalUserState").and_then(Value::as_str) {
        Some("Accepted") | None => "Completed",
        Some(_) => "PendingAcceptance",
    };
    let mut invitation = serde_json::Map::new();
    invitation.insert("invitedUserEmailAddress".into(), json!(email));
    invitation.insert("inviteRedirectUrl".into(), json!(redirect));
    if let Some(name) = user.get("displayName").filter(|name| name.is_string()) {
        invitation.insert("invitedUserDisplayName".into(), name.clone());
    }
    if let Some(kind) = user.get("userType").filter(|kind| kind.is_string()) {
        invitation.insert("invitedUserType".into(), kind.clone());
    }
    invitation.insert("invitedUser".into(), json!({"id": id}));
    invitation.insert("status".into(), json!(status));
    Ok(Some(invitation))
}

/// An address of the shape `local@domain.tld`: one `@`, no spaces, a dotted domain
/// without empty labels. Graph does the real check.
fn is_email_address(value: &str) -> bool {
    let value = value.trim();
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    let plain = |s: &str| !s.is_empty() && !s.contains('@') && s.chars().all(|c| !c.is_whitespace() && !c.is_control());
    plain(local) && plain(domain) && domain.contains('.') && domain.split('.').all(|label| !label.is_empty())
}

/// An absolute `http`/`https` URL with a host.
fn is_web_url(value: &str) -> bool {
    match value.trim().parse::<http::Uri>() {
        Ok(uri) => matches!(uri.scheme_str(), Some("https" | "http")) && uri.host().is_some_and(|h| !h.is_empty()),
        Err(_) => false,
    }
}

/// Who becomes a sponsor, as read from the input.
enum Sponsors<'a> {
    /// Users, by object id or userPrincipalName, as the caller gave them.
    Users(Vec<String>),
    /// One group, by object id.
    Group(&'a str),
}

impl<'a> Sponsors<'a> {
    fn read(input: &Input<'a>) -> Result<Self> {
        let add_type = input
            .optional_choice("addType", &["USER", "GROUP"])?
            .ok_or_else(|| ConnectorError::invalid_input("`addType` is required (USER or GROUP)"))?;
        if add_type == "GROUP" {
            if input.get("sponsors").is_some_and(|v| v.as_str().is_none_or(|s| !s.trim().is_empty())) {
                return Err(ConnectorError::invalid_input("`sponsors` is for addType USER; give `groupId` for GROUP"));
            }
            return Ok(Sponsors::Group(input.required_str("groupId")?));
        }
        if input.optional_str("groupId")?.is_some() {
            return Err(ConnectorError::invalid_input("`groupId` is for addType GROUP; give `sponsors` for USER"));
        }
        let ids = input.id_list("sponsors")?.unwrap_or_default();
        if ids.is_empty() {
            return Err(ConnectorError::invalid_input("`sponsors` is required for addType USER"));
        }
        Ok(Sponsors::Users(ids))
    }
}

fn add_sponsor(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str("userId")?;
    let sponsors = Sponsors::read(input)?;
    let user_id = resolve_user_id(client, user)?;
    let collection = format!("{}/sponsors", user_segment(&user_id));
    match sponsors {
        Sponsors::Group(group) => {
            let target = reference(client, "groups", group);
            add_reference(client, &collection, target)?;
            Ok(success(&[("userId", user), ("groupId", group)]))
        }
        Sponsors::Users(ids) => {
            if let [only] = ids.as_slice() {
                add_user_sponsor(client, &collection, only)?;
                return Ok(success(&[("userId", user), ("sponsors", only.as_str())]));
            }
            let mut outcome = BulkOutcome::new();
            outcome.each(client, &ids, String::clone, |client, id| add_user_sponsor(client, &collection, id).into());
            Ok(outcome.to_json())
        }
    }
}

/// Adds one user sponsor, resolving a userPrincipalName to the object id Graph needs.
fn add_user_sponsor(client: &mut GraphClient, collection: &str, sponsor: &str) -> Result<()> {
    let sponsor_id = resolve_user_id(client, sponsor)?;
    let target = reference(client, "users", &sponsor_id);
    add_reference(client, collection, target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::transport::scripted::{body_json, connected, token_config, ScriptedTransport};
    use crate::ErrorCode;

    #[test]
    fn email_addresses_need_one_at_and_a_dotted_domain() {
        assert!(is_email_address("admin@fabrikam.com"));
        assert!(is_email_address("first.last+tag@sub.fabrikam.co.uk"));
        assert!(!is_email_address("admin"));
        assert!(!is_email_address("admin@fabrikam"));
        assert!(!is_email_address("a@b@fabrikam.com"));
        assert!(!is_email_address("ad min@fabrikam.com"));
        assert!(!is_email_address("@fabrikam.com"));
        assert!(!is_email_address("admin@fabrikam..com"));
    }

    #[test]
    fn redirect_urls_must_be_absolute_web_urls() {
        assert!(is_web_url("https://myapp.contoso.com"));
        assert!(is_web_url("https://myapps.microsoft.com?tenantid=abc"));
        assert!(!is_web_url("myapp.contoso.com"));
        assert!(!is_web_url("javascript:alert(1)"));
        assert!(!is_web_url("ftp://contoso.com"));
    }

    #[test]
    fn invite_sends_the_sample_fields_and_drops_blank_ones() {
        let script = ScriptedTransport::new().respond(
            201,
            json!({"@odata.context": "ctx", "id": "inv-1", "status": "PendingAcceptance", "invitedUser": {"id": "u-1"}}),
        );
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"invitedUserEmailAddress": "admin@fabrikam.com", "sendInvitationMessage": "true",
                           "invitedUserType": "guest", "inviteRedirectUrl": "https://myapp.contoso.com",
                           "invitedUserDisplayName": ""});
        let output = connector.invoke("guests.invite", &input.to_string()).unwrap();
        assert_eq!(output, json!({"id": "inv-1", "status": "PendingAcceptance", "invitedUser": {"id": "u-1"}}));
        let sent = log.borrow();
        assert_eq!(sent[0].method(), "POST");
        assert_eq!(sent[0].uri(), "https://graph.microsoft.com/v1.0/invitations");
        assert_eq!(
            body_json(&sent[0]),
            json!({"invitedUserEmailAddress": "admin@fabrikam.com", "sendInvitationMessage": true,
                   "invitedUserType": "Guest", "inviteRedirectUrl": "https://myapp.contoso.com"})
        );
    }

    #[test]
    fn invite_refuses_a_bad_email_before_any_request() {
        let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
        let input = json!({"invitedUserEmailAddress": "not-an-email", "inviteRedirectUrl": "https://a.b"});
        let error = connector.invoke("guests.invite", &input.to_string()).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert!(error.message.contains("`invitedUserEmailAddress`"));
        let input = json!({"invitedUserEmailAddress": "a@b.com"});
        let error = connector.invoke("guests.invite", &input.to_string()).unwrap_err();
        assert_eq!(error.message, "`inviteRedirectUrl` is required");
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn the_sponsor_sample_posts_a_user_reference() {
        let script = ScriptedTransport::new().respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"userId": "guest-user-id-12345", "addType": "USER", "sponsors": "internal-user-id-67890"});
        let output = connector.invoke("guests.add-sponsor", &input.to_string()).unwrap();
        assert_eq!(
            output,
            json!({"success": true, "userId": "guest-user-id-12345", "sponsors": "internal-user-id-67890"})
        );
        let sent = log.borrow();
        assert_eq!(sent[0].uri(), "https://graph.microsoft.com/v1.0/users/guest-user-id-12345/sponsors/$ref");
        assert_eq!(
            body_json(&sent[0]),
            json!({"@odata.id": "https://graph.microsoft.com/v1.0/users/internal-user-id-67890"})
        );
    }

    #[test]
    fn a_guest_upn_is_resolved_and_a_group_sponsor_is_referenced() {
        let script = ScriptedTransport::new().respond(200, json!({"id": "g-obj"})).respond(204, Value::Null);
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"userId": "ann_fabrikam.com#EXT#@contoso.com", "addType": "group", "groupId": "grp-1"});
        let output = connector.invoke("guests.add-sponsor", &input.to_string()).unwrap();
        assert_eq!(output, json!({"success": true, "userId": "ann_fabrikam.com#EXT#@contoso.com", "groupId": "grp-1"}));
        let sent = log.borrow();
        assert_eq!(
            sent[0].uri(),
            "https://graph.microsoft.com/v1.0/users/ann_fabrikam.com%23EXT%23@contoso.com?$select=id"
        );
        assert_eq!(sent[1].uri(), "https://graph.microsoft.com/v1.0/users/g-obj/sponsors/$ref");
        assert_eq!(body_json(&sent[1]), json!({"@odata.id": "https://graph.microsoft.com/v1.0/groups/grp-1"}));
    }

    #[test]
    fn several_sponsors_give_the_bulk_output() {
        let not_found = json!({"error": {"code": "Request_ResourceNotFound", "message": "gone"}});
        let script = ScriptedTransport::new().respond(204, Value::Null).respond(404, not_found);
        let (mut connector, log) = connected(token_config(), script);
        let input = json!({"userId": "guest", "addType": "USER", "sponsors": ["s-1", "s-2", "s-1"]});
        let output = connector.invoke("guests.add-sponsor", &input.to_string()).unwrap();
        assert_eq!(output["success"], false);
        assert_eq!(output["succeeded"], json!(["s-1"]));
        assert_eq!(output["failed"][0]["id"], "s-2");
        assert_eq!(output["failed"][0]["error"]["code"], "not-found");
        assert_eq!(log.borrow().len(), 2);
    }

    #[test]
    fn sponsor_inputs_are_checked_before_any_request() {
        let (mut connector, log) = connected(token_config(), ScriptedTransport::new());
        for (input, message) in [
            (json!({"userId": "g", "addType": "USER"}), "`sponsors` is required for addType USER"),
            (json!({"userId": "g", "addType": "GROUP"}), "`groupId` is required"),
            (
                json!({"userId": "g", "addType": "TEAM", "sponsors": "s"}),
                "`addType` must be one of USER, GROUP (got `TEAM`)",
            ),
            (json!({"userId": "g", "sponsors": "s"}), "`addType` is required (USER or GROUP)"),
            (json!({"userId": "g", "addType": "USER", "sponsors": [1]}), "`sponsors[0]` must be a non-empty id string"),
            (json!({"addType": "USER", "sponsors": "s"}), "`userId` is required"),
        ] {
            let error = connector.invoke("guests.add-sponsor", &input.to_string()).unwrap_err();
            assert_eq!((error.code, error.message.as_str()), (ErrorCode::InvalidInput, message), "{input}");
        }
        assert!(log.borrow().is_empty());
    }
}
