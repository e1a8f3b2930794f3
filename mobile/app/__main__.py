from mobile.app.main import run

run()
