"""Routes per area; each module has ``router() -> APIRouter`` (built by create_app)."""
