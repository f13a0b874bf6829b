"""leadline.evals"""
