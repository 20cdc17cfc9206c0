"""KServe's ``InferenceRESTClient`` (protocol v2) against ``convzoo serve``'s REST endpoint, run
as a script with a Python that has the ``kserve`` package (it is not a convzoo dependency)::

    python tests/kserve_rest_checks.py http://HOST:PORT

Reads ``{"classifier": [[...]] }`` input batches as JSON on stdin and prints one JSON object:
health answers, outputs of JSON and binary requests, and the status of a refused request.
"""

from __future__ import annotations

import asyncio
import json
import sys

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput


async def main(url: str) -> dict:
    images = np.array(json.load(sys.stdin)["classifier"], dtype=np.float32)
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    result: dict = {
        "live": await client.is_server_live(url),
        "ready": await client.is_server_ready(url),
        "model_ready": await client.is_model_ready(url, "classifier"),
        "broken_ready": await client.is_model_ready(url, "broken"),
    }
    for binary in (False, True):
        tensor = InferInput("input", list(images.shape), "FP32")
        tensor.set_data_from_numpy(images, binary_data=binary)
        outputs = [RequestedOutput("logits", {"binary_data": binary})]
        request = InferRequest("classifier", [tensor], request_id=f"k{int(binary)}", request_outputs=outputs)
        response = await client.infer(url, request, model_name="classifier")
        result[f"logits_binary_{binary}"] = response.outputs[0].as_numpy().tolist()
        result[f"id_binary_{binary}"] = response.id
    try:
        await client.infer(url, InferRequest("nope", [tensor]), model_name="nope")
    except httpx.HTTPStatusError as error:
        result["unknown_model"] = [error.response.status_code, error.response.json()["error"]]
    await client.close()
    return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
