"""The MCP server of the docs API (`/mcp`): Model Context Protocol over Streamable HTTP, stateless, JSON answers.

`protocol` reads and answers JSON-RPC messages, `tools` defines the tools and calls the docs API's selectors and
services, `views` is the DRF view that authenticates, scopes and rate limits like the rest of the API.
"""
