"""pixlens on AWS Lambda: the function's entry point (``pixlens.aws.lambda_handler.handler``), the events it accepts
(``events``), the timeout guard (``deadline``), one invocation's work (``batch``) and its JSON logs (``logs``).
See docs/AWS.md."""
