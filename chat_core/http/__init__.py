"""HTTP transport: the Starlette app shared by the container and the Lambda handler."""
