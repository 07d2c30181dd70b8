# Answers carry their explanations (quizbank.Answer); serving state lives in tuning.ModelVersion.
