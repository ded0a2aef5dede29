"""The wire format: the API's request and response models, shared by the server and the
client. Pure pydantic: importing it pulls in neither the server nor the science."""
