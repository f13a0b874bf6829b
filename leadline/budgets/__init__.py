"""leadline.budgets"""
