"""`dance-analyzer`: the pipeline from a command line with no server, the tenants of a
service, and the whole service on one machine (`local`). The remote commands are
`dance_client.cli`'s."""
