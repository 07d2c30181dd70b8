"""How the model server is run: vLLM's OpenAI-compatible server, with CPU or GPU flags, kept serving
the active model version.

`manage.py serve_model` runs a supervisor. It owns the public port (VLLM_PORT) and forwards each
connection to a vLLM child process on a private port. When another version is promoted it switches
without dropping a request:

- a LoRA version over the base that is being served (SERVING_LORA) is hot-loaded into the running
  server (`/v1/load_lora_adapter`); the client asks for it by name as soon as it is listed;
- any other version gets a new vLLM process; new connections go to it once it is healthy, and the
  old one is stopped only when it has no request running or waiting.

A child that dies is started again. The supervisor imports neither torch nor vLLM.

The model servers require an API key (`model_server_api_key`): vLLM checks it on /v1, and the
public port checks it on every request but the health probe, since vLLM leaves other routes open
(`/invocations` answers like `/v1/chat/completions`). The children listen on loopback only.

Stopping the supervisor (SIGTERM, SIGINT, at any stage) stops its children first; a child whose
supervisor dies, even by SIGKILL, is stopped by its guard (`GUARD`), with vLLM's own processes.

The package, one concern per module: `plans` (the weights to load for a version), `process` (one
vLLM server and its guard), `public_port` (the gate on VLLM_PORT) and `supervisor` (the loop that
ties them together).
"""
