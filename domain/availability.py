"""What a product page says about a sku's stock."""


def status_of(available: int, incoming: int, threshold: int) -> tuple[str, str]:
    if available <= 0:
        return ("preorder", "Available for preorder") if incoming > 0 else ("out_of_stock", "Out of stock")
    if available <= threshold:
        return "low_stock", f"Only {available} left"
    return "in_stock", "In stock"
