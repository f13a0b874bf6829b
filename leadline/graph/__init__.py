"""leadline.graph"""
