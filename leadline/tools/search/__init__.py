"""leadline.tools.search"""
