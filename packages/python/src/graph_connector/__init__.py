"""Microsoft Graph from Python through the sandboxed Graph Connector component.

    from graph_connector import Connector
    with Connector.open(config) as graph:
        graph.invoke("users.get", {"userId": "adele@contoso.com"})

The component runs in Wasmtime with no environment, no arguments, no filesystem, a
memory cap and a hard deadline; its outgoing HTTP reaches only the hosts the component
declares that the connection uses (the login and Graph hosts of its cloud), and the hosts
passed as `allow_hosts`.
"""

from ._allowlist import AllowedHosts, HostPattern
from ._connector import Connection, Connector, Limits, bundled_component
from ._errors import ConnectorError

# Tracebacks and reprs name the public module, not the private one defining the class.
for _public in (Connector, Connection, Limits, ConnectorError, AllowedHosts, HostPattern):
    _public.__module__ = __name__
del _public

__all__ = [
    # Open connections: `Connector.open(config)`, or a `Connector` of your own for a
    # chosen cache directory.
    "Connector",
    # What one connection's instance may use: memory, requests per call, hard deadline.
    "Limits",
    # One open connection: `invoke`, `list_actions`, `describe`, `close`.
    "Connection",
    # The typed error every failed operation raises.
    "ConnectorError",
    # The allowlist a connection enforces.
    "AllowedHosts",
    "HostPattern",
    # The component's bytes as shipped in the package.
    "bundled_component",
]
