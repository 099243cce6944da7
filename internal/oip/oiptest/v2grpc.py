"""What the Python gRPC clients of the tests share, copied by
oiptest.CompileProtos beside the stubs it generates into GEN_DIR: one
deadline, and one way to call an RPC that may fail.
"""

import grpc

TIMEOUT = 10


def call(fn, req):
    """Returns (response, None) or (None, [status code name, details])."""
    try:
        return fn(req, timeout=TIMEOUT), None
    except grpc.RpcError as e:
        return None, [e.code().name, e.details()]
