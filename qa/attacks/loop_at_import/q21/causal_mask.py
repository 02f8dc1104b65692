# Attack: never finish importing.
while True:
    pass
