"""A client written for OpenAI's Batch API, as a Python user writes it, pointed at Switchyard.

Run by test/openai-python-sdk.e2e-spec.ts with the official `openai` Python SDK:

    python openai_batch_client.py BASE_URL API_KEY

Only the base URL and the key differ from a client of OpenAI. It drives files and batches through the SDK's own
methods (uploads as a tuple, a file object and a path-opened file; auto-pagination; files.content; the SDK's
exception classes) and prints one JSON object of what it saw. The assertions live in the jest test.
"""

import io
import json
import sys
import tempfile
import time

import openai
from openai import OpenAI
from openai.types.chat import ChatCompletion

base_url, api_key = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
FINAL = ("completed", "failed", "expired", "cancelled")


def line(custom_id, body):
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})


def ask(text, **extra):
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], "max_tokens": 16, **extra}


def settled(batch_id, timeout_s=60):
    until = time.time() + timeout_s
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in FINAL or time.time() > until:
            return batch
        time.sleep(0.2)


def raised(call):
    """The SDK exception a call raised, as its class name, status and error body fields."""
    try:
        call()
        return None
    except openai.APIStatusError as e:
        body = e.body if isinstance(e.body, dict) else {}
        return {"class": type(e).__name__, "status": e.status_code, "param": body.get("param"), "code": body.get("code")}


seen = {"sdk_version": openai.__version__}
schema = {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}
content = (
    "\n".join(
        [
            line("a", ask("one", temperature=0.2, seed=7)),
            line("b", ask("two", response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema}})),
            line("bad", {"model": "m", "messages": [{"role": "wizard", "content": "x"}]}),
        ]
    )
    + "\n"
).encode()

# Uploads in the three ways Python code passes a file.
by_tuple = client.files.create(file=("input.jsonl", content), purpose="batch")
by_buffer = client.files.create(file=io.BytesIO(content), purpose="batch")
with tempfile.NamedTemporaryFile(suffix=".jsonl") as f:
    f.write(content)
    f.flush()
    with open(f.name, "rb") as opened:
        by_path = client.files.create(file=opened, purpose="batch")
seen["uploads"] = [u.model_dump() for u in (by_tuple, by_buffer, by_path)]
seen["upload_bytes"] = len(content)
seen["retrieved_upload"] = client.files.retrieve(by_tuple.id).model_dump()
seen["listed_files"] = [f.id for f in client.files.list(purpose="batch", limit=1)]  # auto-paginates, a page a file

created = client.batches.create(
    input_file_id=by_tuple.id,
    endpoint="/v1/chat/completions",
    completion_window="1h",
    metadata={"project": "python"},
)
seen["created"] = created.model_dump()
done = settled(created.id)
seen["done"] = done.model_dump()

output = client.files.content(done.output_file_id)
outputs = {}
for text in output.text.splitlines():
    row = json.loads(text)
    completion = ChatCompletion.model_validate(row["response"]["body"])  # the SDK's own type takes each body
    outputs[row["custom_id"]] = {
        "status_code": row["response"]["status_code"],
        "content": completion.choices[0].message.content,
        "finish_reason": completion.choices[0].finish_reason,
        "total_tokens": completion.usage.total_tokens,
        "route": (completion.model_extra or {}).get("switchyard", {}).get("route"),
    }
seen["outputs"] = outputs
seen["output_file"] = client.files.retrieve(done.output_file_id).model_dump()
seen["output_length"] = len(output.content)
with tempfile.NamedTemporaryFile(suffix=".jsonl") as f:
    client.files.content(done.output_file_id).write_to_file(f.name)
    seen["written_length"] = len(open(f.name, "rb").read())
errors = client.files.content(done.error_file_id)
seen["errors"] = [json.loads(t) for t in errors.text.splitlines()]
seen["error_file"] = client.files.retrieve(done.error_file_id).model_dump()
seen["error_length"] = len(errors.content)

# Three more batches, then the list as the SDK pages it.
more = [
    client.batches.create(input_file_id=by_buffer.id, endpoint="/v1/chat/completions", completion_window="24h").id
    for _ in range(3)
]
first_page = client.batches.list(limit=2)
seen["first_page"] = {"ids": [b.id for b in first_page.data], "has_more": first_page.has_more}
seen["more"] = more
seen["listed_batches"] = [b.id for b in client.batches.list(limit=2)]
for batch_id in more:
    settled(batch_id)

# A batch cancelled before its lines ran (the test makes the provider slow).
slow = client.batches.create(input_file_id=by_path.id, endpoint="/v1/chat/completions", completion_window="7d")
seen["cancel_answer"] = client.batches.cancel(slow.id).status
seen["cancelled"] = settled(slow.id).model_dump()

seen["raised"] = {
    "endpoint": raised(
        lambda: client.batches.create(
            input_file_id=by_tuple.id, endpoint="/v1/embeddings", completion_window="24h"
        )
    ),
    "window": raised(
        lambda: client.batches.create(input_file_id=by_tuple.id, endpoint="/v1/chat/completions", completion_window="soon")
    ),
    "purpose": raised(lambda: client.files.create(file=("x.jsonl", content), purpose="fine-tune")),
    "missing_batch": raised(lambda: client.batches.retrieve("batch_00000000-0000-0000-0000-000000000000")),
    "finished_cancel": raised(lambda: client.batches.cancel(done.id)),
    "wrong_key": raised(lambda: OpenAI(base_url=base_url, api_key="sk-not-a-switchyard-key", max_retries=0).batches.list()),
}
seen["deleted"] = client.files.delete(by_path.id).model_dump()
seen["raised"]["deleted_file"] = raised(lambda: client.files.retrieve(by_path.id))

print(json.dumps(seen))
