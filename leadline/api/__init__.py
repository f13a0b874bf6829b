"""leadline.api"""
