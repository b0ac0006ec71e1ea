from app.openapi_doc import DOC, render


def test_checked_in_openapi_document_is_current():
    # Regenerate with: python -m app.openapi_doc
    assert DOC.read_text() == render()


def test_operations_have_stable_ids():
    import json

    ops = {op["operationId"] for path in json.loads(render())["paths"].values() for op in path.values()}
    assert {"createChatCompletion", "listModels", "reason", "getTrace", "health"} <= ops
