"""Request and response models of the API routes (pydantic), by area."""
