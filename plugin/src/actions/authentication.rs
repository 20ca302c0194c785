//! Authentication: list a user's methods, create a Temporary Access Pass, remove MFA methods
//! or reset the password method (`/users/{id}/authentication/...`), change the signed-in
//! user's own password (`/me/changePassword`) and reset a password as an administrator
//! (`passwordProfile`).

use super::bulk::BulkOutcome;
use super::{entity, success, DEFAULT_MAX_ITEMS};
use crate::catalog::{Action, Handler};
use crate::error::{ConnectorError, ErrorCode, Result};
use crate::graph::client::GraphClient;
use crate::graph::client::GraphRequest;
use crate::graph::config::AuthMode;
use crate::graph::odata::{encode_segment, user_segment, Query};
use crate::json::input::Input;
use crate::json::listing::Listing;
use crate::json::schema;
use crate::json::time::UtcDateTime;
use http::Method;
use serde_json::{json, Map, Value};

/// The authentication actions.
pub const ACTIONS: &[Action] = &[
    Action {
        id: "users.reset-mfa",
        title: "Reset MFA method",
        description: "Removes a user's authentication method of the given type \
                      (DELETE /users/{id}/authentication/{type}Methods/{methodId}); without a method id, every \
                      method of that type is listed and removed. PASSWORD_METHODS resets the password method \
                      instead (POST .../authentication/methods/{passwordId}/resetPassword, delegated only; on an \
                      `accessToken` connection it is sent, and Graph's 403 to an app-only token is `forbidden` \
                      and says so).",
        category: "users",
        permissions: &["UserAuthenticationMethod.ReadWrite.All"],
        read_only: false,
        input_schema: reset_mfa_input,
        output_schema: reset_mfa_output,
        run: Handler::Value(reset_mfa),
    },
    Action {
        id: "users.change-password",
        title: "Change own password",
        description: "Changes the signed-in user's own password (POST /me/changePassword). Needs a delegated \
                      connection (`password` or `refreshToken`, or an `accessToken` that is delegated: Graph's 403 \
                      to an app-only token is `forbidden` and says so); the permission listed is delegated.",
        category: "users",
        permissions: &["User-PasswordProfile.ReadWrite.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "userId": schema::string("The signed-in user (object id or userPrincipalName); any other user is refused"),
                    "currentPassword": schema::string("The current password"),
                    "newPassword": schema::string("The new password"),
                }),
                &["currentPassword", "newPassword"],
            )
        },
        output_schema: || schema::success_output(&[]),
        run: Handler::Value(change_password),
    },
    Action {
        id: "users.reset-password",
        title: "Reset password",
        description: "Sets a new password for a user as an administrator (PATCH /users/{id} with passwordProfile). \
                      The password is never echoed in the output.",
        category: "users",
        permissions: &["User-PasswordProfile.ReadWrite.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "userId": schema::string("Object id or userPrincipalName"),
                    "newPassword": schema::string("The new password"),
                    "forceChangePasswordNextSignIn": schema::boolean(
                        "Make the user change the password at the next sign-in (default true)"
                    ),
                }),
                &["userId", "newPassword"],
            )
        },
        output_schema: || schema::success_output(&["userId"]),
        run: Handler::Value(reset_password),
    },
    Action {
        id: "users.list-auth-methods",
        title: "List authentication methods",
        description: "Lists a user's registered authentication methods (GET /users/{id}/authentication/methods; \
                      Graph takes no query options here). Each item's `@odata.type` names the users.reset-mfa type \
                      and id field: emailAuthenticationMethod → EMAIL_METHODS, emailMethodId; \
                      fido2AuthenticationMethod → FIDO2_METHODS, fido2Id; microsoftAuthenticatorAuthenticationMethod \
                      → MICROSOFT_AUTHENTICATOR_METHODS, microsoftAuthenticatorId; phoneAuthenticationMethod → PHONE, \
                      phoneMethodId; softwareOathAuthenticationMethod → SOFTWARE_OATH_METHODS, softwareOathId; \
                      temporaryAccessPassAuthenticationMethod → TEMPORARY_ACCESS_PASS_METHODS, \
                      temporaryAccessPassId; windowsHelloForBusinessAuthenticationMethod → \
                      WINDOWS_HELLO_FOR_BUSINESS_METHODS, windowsHelloForBusinessId; passwordAuthenticationMethod → \
                      PASSWORD_METHODS, passwordId. Other types (platform credential, QR code, external) are listed \
                      as Graph returns them; users.reset-mfa has no type for them.",
        category: "users",
        permissions: &["UserAuthenticationMethod.Read.All"],
        read_only: true,
        input_schema: || {
            schema::object(
                json!({
                    "userId": schema::string("Object id or userPrincipalName"),
                    "maxItems": schema::whole_number("Stop after this many items (default 1000, 0 = all)"),
                }),
                &["userId"],
            )
        },
        output_schema: || schema::list_output("An authentication method, with @odata.type"),
        run: Handler::Listing(list_auth_methods),
    },
    Action {
        id: "users.create-temporary-access-pass",
        title: "Create Temporary Access Pass",
        description: "Creates a Temporary Access Pass for a user (POST \
                      /users/{id}/authentication/temporaryAccessPassMethods, 201) and returns it as Graph does, \
                      `temporaryAccessPass` included: Graph shows the pass only in this answer. It is a credential \
                      for that user: deliver it over a channel meant for secrets and do not store it; the connector \
                      never puts it in an error or a dry-run plan. Members not given are left to the tenant's \
                      Temporary Access Pass policy; a user has one usable pass at a time, so a new one replaces \
                      the current one. Graph's 400 for what the policy refuses is invalid-input with Graph's message.",
        category: "users",
        permissions: &["UserAuthMethod-TAP.ReadWrite.All"],
        read_only: false,
        input_schema: || {
            schema::object(
                json!({
                    "userId": schema::string("Object id or userPrincipalName"),
                    "lifetimeInMinutes": schema::whole_number(&format!(
                        "How long the pass is valid ({MIN_TAP_LIFETIME} to {MAX_TAP_LIFETIME} minutes; default: the \
                         policy's)"
                    )),
                    "isUsableOnce": schema::boolean("One sign-in only (a multi-use pass only where the policy allows it)"),
                    "startDateTime": schema::string(
                        "When the pass becomes usable (ISO 8601 with `Z` or an offset, or a date alone); default: now"
                    ),
                }),
                &["userId"],
            )
        },
        output_schema: || {
            schema::entity(
                "The temporaryAccessPassAuthenticationMethod: id, temporaryAccessPass (the secret), createdDateTime, \
                 startDateTime, lifetimeInMinutes, isUsableOnce, isUsable, methodUsabilityReason",
            )
        },
        run: Handler::Value(create_temporary_access_pass),
    },
];

/// The shortest and longest Temporary Access Pass lifetimes Graph accepts, in minutes.
const MIN_TAP_LIFETIME: u64 = 10;
/// See [`MIN_TAP_LIFETIME`].
const MAX_TAP_LIFETIME: u64 = 43_200;

/// A kind of authentication method that `users.reset-mfa` removes.
struct RemovableMethod {
    /// Its `authenticationMethodType` value.
    name: &'static str,
    /// Its collection below `/users/{id}/authentication/`.
    collection: &'static str,
    /// The input field that holds the id of one method of this kind.
    id_field: &'static str,
}

/// Every removable kind, with the input names of the connector documentation's sample.
const REMOVABLE_METHODS: &[RemovableMethod] = &[
    RemovableMethod { name: "EMAIL_METHODS", collection: "emailMethods", id_field: "emailMethodId" },
    RemovableMethod { name: "FIDO2_METHODS", collection: "fido2Methods", id_field: "fido2Id" },
    RemovableMethod {
        name: "MICROSOFT_AUTHENTICATOR_METHODS",
        collection: "microsoftAuthenticatorMethods",
        id_field: "microsoftAuthenticatorId",
    },
    RemovableMethod { name: "PHONE", collection: "phoneMethods", id_field: "phoneMethodId" },
    RemovableMethod { name: "SOFTWARE_OATH_METHODS", collection: "softwareOathMethods", id_field: "softwareOathId" },
    RemovableMethod {
        name: "TEMPORARY_ACCESS_PASS_METHODS",
        collection: "temporaryAccessPassMethods",
        id_field: "temporaryAccessPassId",
    },
    RemovableMethod {
        name: "WINDOWS_HELLO_FOR_BUSINESS_METHODS",
        collection: "windowsHelloForBusinessMethods",
        id_field: "windowsHelloForBusinessId",
    },
];

/// The `authenticationMethodType` that resets the password method (it cannot be deleted).
const PASSWORD_METHODS: &str = "PASSWORD_METHODS";
/// The input field holding the password method's id.
const PASSWORD_ID_FIELD: &str = "passwordId";
/// The fixed id Graph gives every user's password method (authenticationmethod-resetpassword example).
const PASSWORD_METHOD_ID: &str = "28c10230-6103-485e-b985-444c60001490";
/// The phone method Graph refuses to delete while an `alternateMobile` exists; removed last.
const MOBILE_PHONE_TYPE: &str = "mobile";

/// What `authenticationMethodType` asks for.
enum MethodType {
    Removable(&'static RemovableMethod),
    Password,
}

fn method_type_names() -> Vec<&'static str> {
    REMOVABLE_METHODS.iter().map(|kind| kind.name).chain([PASSWORD_METHODS]).collect()
}

fn id_fields() -> impl Iterator<Item = &'static str> {
    REMOVABLE_METHODS.iter().map(|kind| kind.id_field).chain([PASSWORD_ID_FIELD])
}

fn reset_mfa_input() -> Value {
    let mut properties = Map::new();
    properties.insert("userId".into(), schema::string("Object id or userPrincipalName"));
    properties.insert(
        "authenticationMethodType".into(),
        schema::choice("The kind of method to remove (or PASSWORD_METHODS to reset)", &method_type_names()),
    );
    for kind in REMOVABLE_METHODS {
        properties.insert(
            kind.id_field.into(),
            schema::string(&format!("Id of the {} method to remove; omit to remove all of them", kind.name)),
        );
    }
    properties.insert(
        PASSWORD_ID_FIELD.into(),
        schema::string(&format!("Id of the password method (default {PASSWORD_METHOD_ID})")),
    );
    properties.insert(
        "newPassword".into(),
        schema::string("PASSWORD_METHODS only: the new password; omitted, Graph generates one and returns it"),
    );
    schema::object(Value::Object(properties), &["userId", "authenticationMethodType"])
}

fn reset_mfa_output() -> Value {
    json!({
        "type": "object",
        "description": "One method removed: {success, userId, <id field>}; all methods of a type: the bulk outcome; \
                        PASSWORD_METHODS: Graph's operation body plus `location` (the operation to poll)",
        "anyOf": [
            schema::success_output(&["userId"]),
            BulkOutcome::schema(),
            schema::entity("The resetPassword operation, with `location`"),
        ],
    })
}

fn reset_mfa(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str("userId")?;
    match method_type(input)? {
        MethodType::Password => reset_password_method(client, input, user),
        MethodType::Removable(kind) => {
            refuse_other_id_fields(input, kind.id_field, kind.name)?;
            match input.optional_str(kind.id_field)? {
                Some(method_id) => {
                    delete_method(client, user, kind, method_id)?;
                    Ok(success(&[("userId", user), (kind.id_field, method_id)]))
                }
                None => remove_every_method(client, user, kind),
            }
        }
    }
}

fn method_type(input: &Input) -> Result<MethodType> {
    let name = input.required_str("authenticationMethodType")?.trim();
    if name.eq_ignore_ascii_case(PASSWORD_METHODS) {
        return Ok(MethodType::Password);
    }
    REMOVABLE_METHODS.iter().find(|kind| kind.name.eq_ignore_ascii_case(name)).map(MethodType::Removable).ok_or_else(
        || {
            ConnectorError::invalid_input(format!(
                "`authenticationMethodType` must be one of {} (got `{name}`)",
                method_type_names().join(", ")
            ))
        },
    )
}

/// An id given under another type's field is almost certainly a mistake; acting on it
/// (or ignoring it and removing every method) could remove the wrong method.
fn refuse_other_id_fields(input: &Input, own_field: &str, type_name: &str) -> Result<()> {
    for field in id_fields().filter(|field| *field != own_field) {
        if input.optional_str(field)?.is_some() {
            return Err(ConnectorError::invalid_input(format!(
                "`{field}` does not apply to `authenticationMethodType` {type_name}; give the method id as `{own_field}`"
            )));
        }
    }
    Ok(())
}

fn methods_path(user: &str, collection: &str) -> String {
    format!("{}/authentication/{collection}", user_segment(user))
}

fn delete_method(client: &mut GraphClient, user: &str, kind: &RemovableMethod, method_id: &str) -> Result<()> {
    let path = format!("{}/{}", methods_path(user, kind.collection), encode_segment(method_id));
    let url = client.url(&path, &Query::new());
    client.send(&GraphRequest::new(Method::DELETE, url))?;
    Ok(())
}

/// Lists the user's methods of one kind and removes each, reporting every id's outcome.
fn remove_every_method(client: &mut GraphClient, user: &str, kind: &RemovableMethod) -> Result<Value> {
    let url = client.url(&methods_path(user, kind.collection), &Query::new());
    let listed = client.list(url, false, 0)?.into_value()?;
    let mut methods: Vec<&Value> = listed.get("value").and_then(Value::as_array).into_iter().flatten().collect();
    // Graph refuses to delete `mobile` while `alternateMobile` exists, so it goes last.
    methods.sort_by_key(|method| method.get("phoneType").and_then(Value::as_str) == Some(MOBILE_PHONE_TYPE));
    let ids = methods
        .iter()
        .map(|method| {
            method.get("id").and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                ConnectorError::upstream(format!("Graph listed a method of {} without an `id`", kind.collection))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut outcome = BulkOutcome::new();
    outcome.each(client, &ids, String::clone, |client, id| delete_method(client, user, kind, id).into());
    Ok(outcome.to_json())
}

/// `PASSWORD_METHODS`: Graph answers 202 with the operation (holding the generated password
/// when none was given) and its `Location`; the output is that body plus `location`.
fn reset_password_method(client: &mut GraphClient, input: &Input, user: &str) -> Result<Value> {
    refuse_other_id_fields(input, PASSWORD_ID_FIELD, PASSWORD_METHODS)?;
    let method_id = input.optional_str(PASSWORD_ID_FIELD)?.unwrap_or(PASSWORD_METHOD_ID);
    let new_password = input.optional_str("newPassword")?;
    require_delegated(
        client,
        "`authenticationMethodType` PASSWORD_METHODS (resetPassword)",
        "for an app-only administrator reset use users.reset-password",
    )?;
    let path = format!("{}/{}/resetPassword", methods_path(user, "methods"), encode_segment(method_id));
    let url = client.url(&path, &Query::new());
    let mut request = GraphRequest::new(Method::POST, url);
    if let Some(password) = new_password {
        request = request.json(json!({"newPassword": password}));
    }
    let response = client.send(&request).map_err(|error| {
        explain_forbidden(client, error, "`authenticationMethodType` PASSWORD_METHODS (resetPassword)")
    })?;
    let location = response.header("location").map(str::to_string);
    let mut output = match response.body {
        Some(Value::Object(body)) => body,
        None => Map::new(),
        Some(_) => {
            return Err(ConnectorError::upstream("Graph answered resetPassword with JSON that is not an object")
                .with_status(response.status))
        }
    };
    output.remove("@odata.context");
    if let Some(location) = location {
        output.insert("location".into(), json!(location));
    }
    Ok(Value::Object(output))
}

/// Refuses a connection that cannot act for a signed-in user. An `accessToken` connection
/// passes: the platform's token may be delegated or app-only, so Graph decides (see
/// [`explain_forbidden`]).
fn require_delegated(client: &GraphClient, what: &str, alternative: &str) -> Result<()> {
    let auth = &client.config().auth;
    if auth.is_delegated() || matches!(auth, AuthMode::AccessToken { .. }) {
        return Ok(());
    }
    Err(ConnectorError::invalid_config(format!(
        "{what} needs delegated authentication, connecting with `auth` `password` or `refreshToken`; this \
         connection uses `{}`; {alternative}",
        auth.name()
    )))
}

/// Graph's 403 to a delegated-only call on an `accessToken` connection most likely means the
/// token is app-only: the error stays `forbidden` with Graph's status, code and message, and
/// says so.
fn explain_forbidden(client: &GraphClient, error: ConnectorError, what: &str) -> ConnectorError {
    if error.code != ErrorCode::Forbidden || !matches!(client.config().auth, AuthMode::AccessToken { .. }) {
        return error;
    }
    let message = format!(
        "{what} needs a delegated token (one acting for a signed-in user); Graph refused the token of this \
         `accessToken` connection, which may be app-only: {}",
        error.message
    );
    ConnectorError { message, ..error }
}

fn list_auth_methods(client: &mut GraphClient, input: &Input) -> Result<Listing> {
    let user = input.required_str("userId")?;
    let max_items = input.optional_u64("maxItems")?.unwrap_or(DEFAULT_MAX_ITEMS);
    // Graph supports no OData query options on this collection: none is sent.
    let url = client.url(&methods_path(user, "methods"), &Query::new());
    client.list(url, false, max_items)
}

fn create_temporary_access_pass(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str("userId")?;
    let mut body = Map::new();
    if let Some(lifetime) = input.optional_u64("lifetimeInMinutes")? {
        if !(MIN_TAP_LIFETIME..=MAX_TAP_LIFETIME).contains(&lifetime) {
            return Err(ConnectorError::invalid_input(format!(
                "`lifetimeInMinutes` must be between {MIN_TAP_LIFETIME} and {MAX_TAP_LIFETIME} (got {lifetime})"
            )));
        }
        body.insert("lifetimeInMinutes".into(), json!(lifetime));
    }
    if let Some(once) = input.optional_bool("isUsableOnce")? {
        body.insert("isUsableOnce".into(), json!(once));
    }
    if let Some(start) = input.optional_str("startDateTime")? {
        body.insert("startDateTime".into(), json!(UtcDateTime::parse("startDateTime", start)?.to_string()));
    }
    let url = client.url(&methods_path(user, "temporaryAccessPassMethods"), &Query::new());
    // Not idempotent: a second pass would replace the first, which the caller may already hold.
    let request = GraphRequest::new(Method::POST, url).json(Value::Object(body));
    let created = client.send(&request).and_then(|response| response.into_object()).map_err(|error| {
        // A successful status with a body that is not the object may hold the pass: the error
        // says what happened without any of it.
        match error.status {
            Some(status) if (200..300).contains(&status) => ConnectorError::upstream(format!(
                "Graph answered HTTP {status} to the Temporary Access Pass creation with a body that is not the \
                 created method; a pass may have been created: create a new one, which replaces it"
            ))
            .with_status(status),
            _ => error,
        }
    })?;
    Ok(entity(created))
}

fn change_password(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let current_password = input.required_str("currentPassword")?;
    let new_password = input.required_str("newPassword")?;
    let user = input.optional_str("userId")?;
    require_delegated(
        client,
        "users.change-password changes the signed-in user's own password, so it",
        "an administrator sets another user's password with users.reset-password",
    )?;
    if let Some(user) = user {
        ensure_signed_in_user(client, user)?;
    }
    let url = client.url("me/changePassword", &Query::new());
    let body = json!({"currentPassword": current_password, "newPassword": new_password});
    client
        .send(&GraphRequest::new(Method::POST, url).json(body))
        .map_err(|error| explain_forbidden(client, error, "users.change-password"))?;
    Ok(match user {
        Some(user) => success(&[("userId", user)]),
        None => success(&[]),
    })
}

/// A `userId` given to `users.change-password` must be the signed-in user: the username of a
/// `password` connection, or the id or userPrincipalName Graph reports for `/me`.
fn ensure_signed_in_user(client: &mut GraphClient, user: &str) -> Result<()> {
    if let AuthMode::Password { username, .. } = &client.config().auth {
        if username.eq_ignore_ascii_case(user) {
            return Ok(());
        }
    }
    let mut query = Query::new();
    query.push("$select", "id,userPrincipalName");
    let url = client.url("me", &query);
    let me = client.get_object(url, false)?;
    let is_me = ["id", "userPrincipalName"]
        .iter()
        .any(|name| me.get(*name).and_then(Value::as_str).is_some_and(|value| value.eq_ignore_ascii_case(user)));
    if is_me {
        Ok(())
    } else {
        Err(ConnectorError::invalid_input(format!(
            "`userId` `{user}` is not the signed-in user: users.change-password only changes the signed-in \
             user's own password (an administrator resets another user's password with users.reset-password)"
        )))
    }
}

fn reset_password(client: &mut GraphClient, input: &Input) -> Result<Value> {
    let user = input.required_str("userId")?;
    let password = input.required_str("newPassword")?;
    let force_change = input.optional_bool("forceChangePasswordNextSignIn")?.unwrap_or(true);
    let body = json!({"passwordProfile": {"forceChangePasswordNextSignIn": force_change, "password": password}});
    let url = client.url(&user_segment(user), &Query::new());
    client.send(&GraphRequest::new(Method::PATCH, url).json(body))?;
    Ok(success(&[("userId", user)]))
}

#[cfg(test)]
mod tests {
    use crate::graph::transport::scripted::{body_json, connected, token_config, ScriptedTransport};
    use crate::ErrorCode;
    use serde_json::{json, Value};

    const USER: &str = "87d349ed-44d7-43e1-9a83-5f2406dee5bd";

    fn delegated_config() -> Value {
        json!({"auth": "password", "tenantId": "contoso.onmicrosoft.com", "clientId": "app-id",
               "username": "megan@contoso.com", "password": "user-secret"})
    }

    fn token() -> Value {
        json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "user-token"})
    }

    fn run(
        config: Value,
        script: ScriptedTransport,
        action: &str,
        input: Value,
    ) -> (Result<Value, crate::ConnectorError>, Vec<crate::graph::transport::HttpRequest>) {
        let (mut connector, log) = connected(config, script);
        let result = connector.invoke(action, &input.to_string());
        let sent = log.borrow().clone();
        (result, sent)
    }

    #[test]
    fn the_documented_sample_deletes_one_fido2_method() {
        let sample = json!({"userId": "12345678-abcd-efgh-ijkl-mnopqrstuvwx", "authenticationMethodType": "FIDO2_METHODS", "fido2Id": "abc123def456"});
        let script = ScriptedTransport::new().respond(204, Value::Null);
        let (result, sent) = run(token_config(), script, "users.reset-mfa", sample);
        assert_eq!(
            result.unwrap(),
            json!({"success": true, "userId": "12345678-abcd-efgh-ijkl-mnopqrstuvwx", "fido2Id": "abc123def456"})
        );
        assert_eq!(sent[0].method(), http::Method::DELETE);
        assert_eq!(
            sent[0].uri(),
            "https://graph.microsoft.com/v1.0/users/12345678-abcd-efgh-ijkl-mnopqrstuvwx/authentication/fido2Methods/abc123def456"
        );
    }

    #[test]
    fn without_a_method_id_every_method_is_removed_mobile_last() {
        let mobile = "3179e48a-750b-4051-897c-87b9720928f7";
        let alternate = "b6332ec1-7057-4abe-9331-3d72feddfe41";
        let office = "e37fc753-ff3b-4958-9484-eaa9425c82bc";
        let script = ScriptedTransport::new()
            .respond(
                200,
                json!({"value": [
                    {"id": mobile, "phoneNumber": "+1 2065555555", "phoneType": "mobile"},
                    {"id": alternate, "phoneNumber": "+1 2065555556", "phoneType": "alternateMobile"},
                    {"id": office, "phoneNumber": "+1 2065555557", "phoneType": "office"},
                ]}),
            )
            .respond(204, Value::Null)
            .respond(400, json!({"error": {"code": "badRequest", "message": "default method"}}))
            .respond(204, Value::Null);
        let (result, sent) = run(
            token_config(),
            script,
            "users.reset-mfa",
            json!({"userId": USER, "authenticationMethodType": "PHONE"}),
        );
        let output = result.unwrap();
        assert_eq!(output["success"], false);
        assert_eq!(output["succeeded"], json!([alternate, mobile]));
        assert_eq!(output["failed"][0]["id"], office);
        assert_eq!(output["failed"][0]["error"]["graphCode"], "badRequest");
        let urls: Vec<String> = sent.iter().map(|r| r.uri().to_string()).collect();
        let base = format!("https://graph.microsoft.com/v1.0/users/{USER}/authentication/phoneMethods");
        assert_eq!(
            urls,
            [base.clone(), format!("{base}/{alternate}"), format!("{base}/{office}"), format!("{base}/{mobile}")]
        );
    }

    #[test]
    fn an_id_under_another_types_field_is_refused() {
        let input = json!({"userId": USER, "authenticationMethodType": "FIDO2_METHODS", "phoneMethodId": "x"});
        let (result, sent) = run(token_config(), ScriptedTransport::new(), "users.reset-mfa", input);
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert!(error.message.contains("`phoneMethodId`") && error.message.contains("`fido2Id`"), "{}", error.message);
        assert!(sent.is_empty());
        let input = json!({"userId": USER, "authenticationMethodType": "SMS"});
        let (result, _) = run(token_config(), ScriptedTransport::new(), "users.reset-mfa", input);
        assert!(result.unwrap_err().message.contains("`authenticationMethodType`"));
    }

    #[test]
    fn password_method_reset_returns_the_operation_and_its_location() {
        let location = format!("https://graph.microsoft.com/v1.0/users/{USER}/authentication/operations/88e7560c");
        let script = ScriptedTransport::new().respond(200, token()).respond_with(
            202,
            &[("location", location.as_str())],
            json!({"newPassword": "Generated-1", "status": "succeeded"}),
        );
        let input = json!({"userId": USER, "authenticationMethodType": "PASSWORD_METHODS"});
        let (result, sent) = run(delegated_config(), script, "users.reset-mfa", input);
        assert_eq!(result.unwrap(), json!({"newPassword": "Generated-1", "status": "succeeded", "location": location}));
        assert_eq!(
            sent[1].uri(),
            format!("https://graph.microsoft.com/v1.0/users/{USER}/authentication/methods/28c10230-6103-485e-b985-444c60001490/resetPassword").as_str()
        );
        assert!(sent[1].body().is_empty());
    }

    #[test]
    fn password_method_reset_on_an_app_only_connection_is_invalid_config() {
        let config = json!({"tenantId": "contoso.onmicrosoft.com", "clientId": "c", "clientSecret": "s"});
        let input = json!({"userId": USER, "authenticationMethodType": "PASSWORD_METHODS", "passwordId": "p"});
        let (result, sent) = run(config, ScriptedTransport::new(), "users.reset-mfa", input);
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidConfig);
        assert!(error.message.contains("users.reset-password"));
        assert!(sent.is_empty());
    }

    #[test]
    fn change_password_needs_a_delegated_connection() {
        let config = json!({"tenantId": "contoso.onmicrosoft.com", "clientId": "c", "clientSecret": "s"});
        let input = json!({"currentPassword": "old", "newPassword": "new"});
        let (result, sent) = run(config, ScriptedTransport::new(), "users.change-password", input);
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidConfig);
        assert!(
            error.message.contains("delegated") && error.message.contains("`clientCredentials`"),
            "{}",
            error.message
        );
        assert!(sent.is_empty());
    }

    fn access_denied() -> Value {
        json!({"error": {"code": "accessDenied", "message": "Request Authorization failed",
                         "innerError": {"request-id": "7c1e2d3f-0000-4000-8000-000000000099"}}})
    }

    #[test]
    fn an_access_token_may_be_delegated_so_delegated_only_calls_are_sent() {
        // A platform's token could act for a user or for the application: Graph decides.
        let script = ScriptedTransport::new().respond(204, Value::Null);
        let input = json!({"currentPassword": "old", "newPassword": "new"});
        let (result, sent) = run(token_config(), script, "users.change-password", input);
        assert_eq!(result.unwrap(), json!({"success": true}));
        assert_eq!(sent[0].method(), http::Method::POST);
        assert_eq!(sent[0].uri(), "https://graph.microsoft.com/v1.0/me/changePassword");
        assert_eq!(sent[0].header_value("authorization"), Some("Bearer test-token"));
        assert_eq!(body_json(&sent[0]), json!({"currentPassword": "old", "newPassword": "new"}));
    }

    #[test]
    fn a_403_to_an_access_token_explains_that_the_call_needs_a_delegated_token() {
        for (action, input, url) in [
            (
                "users.reset-mfa",
                json!({"userId": USER, "authenticationMethodType": "PASSWORD_METHODS", "passwordId": "p"}),
                format!("https://graph.microsoft.com/v1.0/users/{USER}/authentication/methods/p/resetPassword"),
            ),
            (
                "users.change-password",
                json!({"currentPassword": "old", "newPassword": "new"}),
                "https://graph.microsoft.com/v1.0/me/changePassword".to_string(),
            ),
        ] {
            let script = ScriptedTransport::new().respond(403, access_denied());
            let (result, sent) = run(token_config(), script, action, input);
            let error = result.unwrap_err();
            assert_eq!(error.code, ErrorCode::Forbidden, "{action}");
            assert_eq!(error.status, Some(403));
            assert_eq!(error.graph_code.as_deref(), Some("accessDenied"));
            assert!(
                error.message.contains("needs a delegated token")
                    && error.message.contains("`accessToken`")
                    && error.message.contains("Request Authorization failed"),
                "{action}: {}",
                error.message
            );
            assert_eq!(sent.len(), 1, "{action}: a 403 is not retried");
            assert_eq!(sent[0].uri(), url);
        }
    }

    #[test]
    fn change_password_posts_to_me_for_the_signed_in_user() {
        let script = ScriptedTransport::new().respond(200, token()).respond(204, Value::Null);
        let input = json!({"userId": "Megan@contoso.com", "currentPassword": "old", "newPassword": "new"});
        let (result, sent) = run(delegated_config(), script, "users.change-password", input);
        assert_eq!(result.unwrap(), json!({"success": true, "userId": "Megan@contoso.com"}));
        assert_eq!(sent[1].uri(), "https://graph.microsoft.com/v1.0/me/changePassword");
        assert_eq!(body_json(&sent[1]), json!({"currentPassword": "old", "newPassword": "new"}));
    }

    #[test]
    fn change_password_refuses_another_user() {
        let script = ScriptedTransport::new()
            .respond(200, token())
            .respond(200, json!({"id": USER, "userPrincipalName": "megan@contoso.com"}));
        let input = json!({"userId": "adele@contoso.com", "currentPassword": "old", "newPassword": "new"});
        let (result, sent) = run(delegated_config(), script, "users.change-password", input);
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert!(error.message.contains("`userId`"));
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].uri(), "https://graph.microsoft.com/v1.0/me?$select=id,userPrincipalName");
    }

    #[test]
    fn reset_password_patches_the_profile_and_never_echoes_it() {
        let script = ScriptedTransport::new().respond(204, Value::Null);
        let input = json!({"userId": USER, "newPassword": "N3w-Secret!"});
        let (result, sent) = run(token_config(), script, "users.reset-password", input);
        let output = result.unwrap();
        assert_eq!(output, json!({"success": true, "userId": USER}));
        assert_eq!(sent[0].method(), http::Method::PATCH);
        assert_eq!(
            body_json(&sent[0]),
            json!({"passwordProfile": {"forceChangePasswordNextSignIn": true, "password": "N3w-Secret!"}})
        );
    }

    const PASS: &str = "TAPRocks!@#1";

    fn created_pass() -> Value {
        json!({"@odata.context": "c", "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
               "id": "6f1967b7-15e8-4935-ac26-d50770ed07a7", "temporaryAccessPass": PASS,
               "createdDateTime": "2022-06-02T16:21:09.5893903Z", "startDateTime": "2022-06-05T00:00:00Z",
               "lifetimeInMinutes": 60, "isUsableOnce": true, "isUsable": false, "methodUsabilityReason": "NotYetValid"})
    }

    #[test]
    fn list_auth_methods_sends_no_query_options_and_keeps_each_type() {
        let methods = json!([
            {"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": "28c10230-6103-485e-b985-444c60001490"},
            {"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": "-2_GRUAE2Ul4N7fvmHa2tgNkbYrBidbBj9NSrWd64"},
        ]);
        let script = ScriptedTransport::new().respond(200, json!({"@odata.context": "c", "value": methods}));
        let (result, sent) = run(
            crate::graph::transport::scripted::token_config(),
            script,
            "users.list-auth-methods",
            json!({"userId": USER}),
        );
        assert_eq!(result.unwrap(), json!({"value": methods}));
        assert_eq!(sent[0].method(), http::Method::GET);
        assert_eq!(
            sent[0].uri(),
            format!("https://graph.microsoft.com/v1.0/users/{USER}/authentication/methods").as_str()
        );
        let (result, sent) = run(
            crate::graph::transport::scripted::token_config(),
            ScriptedTransport::new(),
            "users.list-auth-methods",
            json!({"userId": "."}),
        );
        assert_eq!(result.unwrap_err().message, "`userId` must not be `.`: a dot segment is not an id");
        assert!(sent.is_empty());
    }

    #[test]
    fn create_temporary_access_pass_sends_the_members_given_and_returns_the_pass() {
        let script = ScriptedTransport::new().respond(201, created_pass());
        let input = json!({"userId": USER, "lifetimeInMinutes": "60", "isUsableOnce": true,
                           "startDateTime": "2022-06-05T02:00:00+02:00"});
        let (result, sent) =
            run(crate::graph::transport::scripted::token_config(), script, "users.create-temporary-access-pass", input);
        let output = result.unwrap();
        assert_eq!(output["temporaryAccessPass"], PASS);
        assert!(output.get("@odata.context").is_none());
        assert_eq!(sent[0].method(), http::Method::POST);
        assert_eq!(
            sent[0].uri(),
            format!("https://graph.microsoft.com/v1.0/users/{USER}/authentication/temporaryAccessPassMethods").as_str()
        );
        assert_eq!(
            body_json(&sent[0]),
            json!({"lifetimeInMinutes": 60, "isUsableOnce": true, "startDateTime": "2022-06-05T00:00:00Z"})
        );
        // Nothing given: the tenant's policy decides, and the body is an empty object.
        let script = ScriptedTransport::new().respond(201, created_pass());
        let (_, sent) = run(
            crate::graph::transport::scripted::token_config(),
            script,
            "users.create-temporary-access-pass",
            json!({"userId": USER}),
        );
        assert_eq!(body_json(&sent[0]), json!({}));
    }

    #[test]
    fn a_lifetime_out_of_range_or_a_bad_start_is_invalid_input_before_sending() {
        for (input, expected) in [
            (
                json!({"userId": USER, "lifetimeInMinutes": 9}),
                "`lifetimeInMinutes` must be between 10 and 43200 (got 9)",
            ),
            (
                json!({"userId": USER, "lifetimeInMinutes": 43201}),
                "`lifetimeInMinutes` must be between 10 and 43200 (got 43201)",
            ),
            (
                json!({"userId": USER, "lifetimeInMinutes": -5}),
                "`lifetimeInMinutes` must be a whole number (0 or more)",
            ),
            (json!({"userId": USER, "startDateTime": "tomorrow"}), "`startDateTime` must be an ISO 8601 date-time"),
            (json!({"userId": USER, "isUsableOnce": "once"}), "`isUsableOnce` must be true or false"),
        ] {
            let (result, sent) = run(
                crate::graph::transport::scripted::token_config(),
                ScriptedTransport::new(),
                "users.create-temporary-access-pass",
                input,
            );
            let error = result.unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidInput);
            assert!(error.message.starts_with(expected), "{}", error.message);
            assert!(sent.is_empty());
        }
        for lifetime in [10, 43200] {
            let script = ScriptedTransport::new().respond(201, created_pass());
            let (result, _) = run(
                crate::graph::transport::scripted::token_config(),
                script,
                "users.create-temporary-access-pass",
                json!({"userId": USER, "lifetimeInMinutes": lifetime}),
            );
            assert!(result.is_ok(), "{lifetime}");
        }
    }

    #[test]
    fn a_pass_in_an_answer_that_fails_after_creation_never_reaches_the_error() {
        // The body is cut inside the object, just after the pass: not JSON, so not the method.
        let truncated = format!(r#"{{"id":"6f19","temporaryAccessPass":"{PASS}","lifetimeInMinutes":6"#);
        let script = ScriptedTransport::new().respond_raw(201, "application/json", truncated.as_bytes());
        let (result, _) = run(
            crate::graph::transport::scripted::token_config(),
            script,
            "users.create-temporary-access-pass",
            json!({"userId": USER}),
        );
        let error = result.unwrap_err();
        assert_eq!((error.code, error.status), (ErrorCode::Upstream, Some(201)));
        assert!(error.message.contains("a pass may have been created"), "{}", error.message);
        assert!(!error.to_json().to_string().contains(PASS), "{}", error.to_json());
        // The same body without the guard would have shown it: the guard is what keeps it out.
        let script = ScriptedTransport::new().respond_raw(200, "application/json", truncated.as_bytes());
        let (result, _) =
            run(crate::graph::transport::scripted::token_config(), script, "users.get", json!({"userId": USER}));
        assert!(result.unwrap_err().message.contains(PASS));
        // JSON that is not an object is refused without the pass either.
        let script = ScriptedTransport::new().respond(201, json!([{"temporaryAccessPass": PASS}]));
        let (result, _) = run(
            crate::graph::transport::scripted::token_config(),
            script,
            "users.create-temporary-access-pass",
            json!({"userId": USER}),
        );
        assert!(!result.unwrap_err().to_json().to_string().contains(PASS));
    }

    #[test]
    fn a_policy_refusal_is_invalid_input_with_graphs_message() {
        let refusal = json!({"error": {"code": "badRequest",
            "message": "The Temporary Access Pass policy does not allow a pass to be used more than once."}});
        let script = ScriptedTransport::new().respond(400, refusal);
        let (result, sent) = run(
            crate::graph::transport::scripted::token_config(),
            script,
            "users.create-temporary-access-pass",
            json!({"userId": USER, "isUsableOnce": false}),
        );
        let error = result.unwrap_err();
        assert_eq!(
            (error.code, error.status, error.graph_code.as_deref()),
            (ErrorCode::InvalidInput, Some(400), Some("badRequest"))
        );
        assert_eq!(error.message, "The Temporary Access Pass policy does not allow a pass to be used more than once.");
        assert_eq!(sent.len(), 1, "a 400 is not retried");
    }

    #[test]
    fn a_dry_run_of_a_temporary_access_pass_plans_the_creation_without_any_pass() {
        let (mut connector, log) = crate::graph::transport::scripted::connected(
            crate::graph::transport::scripted::token_config(),
            ScriptedTransport::new(),
        );
        let options = crate::InvokeOptions { dry_run: true, ..Default::default() };
        let input = json!({"userId": USER, "lifetimeInMinutes": 60, "isUsableOnce": true});
        let output = connector.invoke_with("users.create-temporary-access-pass", &input.to_string(), &options).unwrap();
        assert!(log.borrow().is_empty());
        assert_eq!(
            output,
            json!({"dryRun": true, "plan": [{
                "method": "POST",
                "url": format!("https://graph.microsoft.com/v1.0/users/{USER}/authentication/temporaryAccessPassMethods"),
                "body": {"lifetimeInMinutes": 60, "isUsableOnce": true},
                "returns": {"id": "{write-1.id}"},
            }]})
        );
        assert!(!output.to_string().contains("temporaryAccessPass\""));
    }
}
