"""The API described once: each route's endpoint (`endpoint.py`), the OpenAPI document generated
from the route table (`document.py`), its examples (`examples.py`) and the `/docs` page
(`docs_page.py`)."""
