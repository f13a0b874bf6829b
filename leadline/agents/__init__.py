"""leadline.agents"""
