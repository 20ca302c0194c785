//! Authentication: remove a user's MFA methods or reset their password method
//! (`/users/{id}/authentication/...`), change the signed-in user's own password
//! (`/me/changePassword`) and reset a password as an administrator (`passwordProfile`).

use super::bulk::BulkOutcome;
use super::success;
use crate::catalog::{Action, Handler};
use crate::error::{ConnectorError, ErrorCode, Result};
use crate::graph::client::GraphClient;
use crate::graph::client::GraphRequest;
use crate::graph::config::AuthMode;
use crate::graph::odata::{encode_segment, user_segment, Query};
use crate::json::input::Input;
use crate::json::schema;
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
];

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
}
