//! The `connector` world's exports as the host calls them. The generated bindings look every
//! export up and check its type against the world on every instantiation: a fresh instance per
//! call paid five type checks each time, the same checks of the same component. Here the
//! exports are found by name once per runtime, their types are checked until an instance of the
//! runtime passes, and the instances after it take the functions by index alone.

use crate::sandbox::runtime::{ActionDescriptor, ConnectorError, InvokeOptions};
use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime::component::{Component, ComponentExportIndex, Func, Instance, ResourceAny, TypedFunc};
use wasmtime::{AsContextMut, Result};

/// The interface that exports the `connection` resource (`wit/connector.wit`).
const CONNECTIONS: &str = "connector:plugin/connections@0.2.0";

/// What `open`, `invoke` and `call` return.
type Outcome<T> = std::result::Result<T, ConnectorError>;

/// Where a component's exports are, found once; and whether their types were checked.
pub(crate) struct ExportIndices {
    open: ComponentExportIndex,
    describe: ComponentExportIndex,
    invoke: ComponentExportIndex,
    list_actions: ComponentExportIndex,
    call: ComponentExportIndex,
    /// Set once an instance's exports were checked against the world's types: every instance
    /// of one compiled component has exports of the same types.
    checked: AtomicBool,
}

impl ExportIndices {
    /// The exports of the world, or an error naming the first one the component lacks.
    pub(crate) fn new(component: &Component) -> Result<Self> {
        let find = |instance: Option<&ComponentExportIndex>, name: &str| {
            component
                .get_export_index(instance, name)
                .ok_or_else(|| wasmtime::format_err!("the component does not export `{name}`"))
        };
        let connections = find(None, CONNECTIONS)?;
        Ok(Self {
            open: find(Some(&connections), "[static]connection.open")?,
            describe: find(Some(&connections), "[method]connection.describe")?,
            invoke: find(Some(&connections), "[method]connection.invoke")?,
            list_actions: find(None, "list-actions")?,
            call: find(None, "call")?,
            checked: AtomicBool::new(false),
        })
    }

    /// The exports of one instance of the component these indices were found in.
    pub(crate) fn load(&self, mut store: impl AsContextMut, instance: &Instance) -> Result<Exports> {
        let mut func = |index: &ComponentExportIndex| {
            instance
                .get_func(&mut store, index)
                .ok_or_else(|| wasmtime::format_err!("an export of the world is not a function"))
        };
        let exports = Exports {
            open: func(&self.open)?,
            describe: func(&self.describe)?,
            invoke: func(&self.invoke)?,
            list_actions: func(&self.list_actions)?,
            call: func(&self.call)?,
        };
        if !self.checked.load(Ordering::Acquire) {
            let store = store.as_context_mut();
            exports.open.typed::<(&str,), (Outcome<ResourceAny>,)>(&store)?;
            exports.describe.typed::<(ResourceAny,), (String,)>(&store)?;
            exports.invoke.typed::<(ResourceAny, &str, &str, InvokeOptions), (Outcome<String>,)>(&store)?;
            exports.list_actions.typed::<(), (Vec<ActionDescriptor>,)>(&store)?;
            exports.call.typed::<(&str, &str, &str, InvokeOptions), (Outcome<String>,)>(&store)?;
            self.checked.store(true, Ordering::Release);
        }
        Ok(exports)
    }
}

/// The world's exports of one instance, of the types [`ExportIndices::load`] checked.
pub(crate) struct Exports {
    open: Func,
    describe: Func,
    invoke: Func,
    list_actions: Func,
    call: Func,
}

// SAFETY (every `new_unchecked` below): `Exports` are made only by `ExportIndices::load`, from
// the instance of the component whose indices it holds, and only once an instance of that same
// compiled component had these exports checked against exactly these types: the types of a
// component's exports are the component's, the same in every one of its instances.
impl Exports {
    /// `connection.open`.
    pub(crate) async fn open(
        &self,
        store: impl AsContextMut<Data: Send>,
        config: &str,
    ) -> Result<Outcome<ResourceAny>> {
        let open = unsafe { TypedFunc::<(&str,), (Outcome<ResourceAny>,)>::new_unchecked(self.open) };
        Ok(open.call_async(store, (config,)).await?.0)
    }

    /// `connection.describe`.
    pub(crate) async fn describe(
        &self,
        store: impl AsContextMut<Data: Send>,
        connection: ResourceAny,
    ) -> Result<String> {
        let describe = unsafe { TypedFunc::<(ResourceAny,), (String,)>::new_unchecked(self.describe) };
        Ok(describe.call_async(store, (connection,)).await?.0)
    }

    /// `connection.invoke`.
    pub(crate) async fn invoke(
        &self,
        store: impl AsContextMut<Data: Send>,
        connection: ResourceAny,
        action: &str,
        input: &str,
        options: InvokeOptions,
    ) -> Result<Outcome<String>> {
        let invoke = unsafe {
            TypedFunc::<(ResourceAny, &str, &str, InvokeOptions), (Outcome<String>,)>::new_unchecked(self.invoke)
        };
        Ok(invoke.call_async(store, (connection, action, input, options)).await?.0)
    }

    /// `list-actions`.
    pub(crate) async fn list_actions(&self, store: impl AsContextMut<Data: Send>) -> Result<Vec<ActionDescriptor>> {
        let list_actions = unsafe { TypedFunc::<(), (Vec<ActionDescriptor>,)>::new_unchecked(self.list_actions) };
        Ok(list_actions.call_async(store, ()).await?.0)
    }

    /// `call`.
    pub(crate) async fn call(
        &self,
        store: impl AsContextMut<Data: Send>,
        config: &str,
        action: &str,
        input: &str,
        options: InvokeOptions,
    ) -> Result<Outcome<String>> {
        let call =
            unsafe { TypedFunc::<(&str, &str, &str, InvokeOptions), (Outcome<String>,)>::new_unchecked(self.call) };
        Ok(call.call_async(store, (config, action, input, options)).await?.0)
    }
}
