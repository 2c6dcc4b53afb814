"""Every module that declares tables: importing this registers them on SQLModel.metadata."""

import store.applications  # noqa: F401
import store.blobs  # noqa: F401
import store.broadcasts  # noqa: F401
import store.documents  # noqa: F401
import store.kpi  # noqa: F401
import store.locations  # noqa: F401
import store.sealed  # noqa: F401
import store.schema  # noqa: F401
import store.staff  # noqa: F401
