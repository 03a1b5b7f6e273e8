"""One module per area of business items; one public function per item."""
