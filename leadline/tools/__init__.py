"""leadline.tools"""
