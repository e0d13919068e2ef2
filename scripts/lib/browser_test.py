#!/usr/bin/env python3
"""Drives headless Chromium through the DevTools protocol (standard library only: a minimal
WebSocket client) against a running staff console:

  1. opens /login and logs in through the real form (types username and password, submits it);
  2. opens the dashboard and checks that it renders its totals;
  3. opens the settlement report and checks its totals;
  4. sends the daily-limit form of the payment points page, lists a payment point's terminals;
  5. saves screenshots (login, dashboard, settlement, payment points) to the output folder.

Exit status 0 only if every check passed. Usage:
  browser_test.py --chromium PATH --url https://127.0.0.1:PORT --user NAME --password-file FILE --out DIR
"""
import argparse, base64, json, os, re, shutil, socket, struct, subprocess, sys, tempfile, time, urllib.request

TIMEOUT_SECONDS = 30
SCREENSHOT_HEIGHT_MAX = 1800


class WebSocket:
    """Just enough RFC 6455 for the DevTools protocol: text frames, client masking, no extensions."""

    def __init__(self, url):
        m = re.match(r"ws://([^:/]+):(\d+)(/.*)", url)
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT_SECONDS)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError("websocket handshake: connection closed")
            response += chunk
        if b" 101 " not in response.split(b"\r\n", 1)[0]:
            raise RuntimeError("websocket handshake failed: " + response.split(b"\r\n", 1)[0].decode())
        self.buffer = response.split(b"\r\n\r\n", 1)[1]

    def send(self, text):
        payload = text.encode()
        header = bytearray([0x81])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(bytes(header) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("websocket closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def receive(self):
        message = b""
        while True:
            first, second = self._read(2)
            n = second & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            opcode = first & 0x0F
            if opcode == 8:
                raise RuntimeError("websocket closed by Chromium")
            if opcode in (0, 1, 2):
                message += payload
                if first & 0x80:
                    return message.decode()


class Page:
    def __init__(self, ws):
        self.ws, self.next_id, self.events = ws, 0, []

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get("id") == my_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event):
        deadline = time.time() + TIMEOUT_SECONDS
        while time.time() < deadline:
            for i, message in enumerate(self.events):
                if message.get("method") == event:
                    del self.events[: i + 1]
                    return message
            self.events.append(json.loads(self.ws.receive()))
        raise RuntimeError(f"timed out waiting for {event}")

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url):
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def screenshot(self, path):
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        # The top of the page, at most SCREENSHOT_HEIGHT_MAX pixels (a shared test database can list thousands of rows).
        clip = {"x": 0, "y": 0, "width": 1280, "height": min(SCREENSHOT_HEIGHT_MAX, max(900, int(size["height"]))), "scale": 1}
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        print(f"saved {path}")


def text_of(page, element_id):
    return page.evaluate(f"(document.getElementById({json.dumps(element_id)}) || {{}}).textContent || null")


def check(condition, message, failures):
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)


def main():
    parser = argparse.ArgumentParser()
    for name in ("--chromium", "--url", "--user", "--password-file", "--out"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    password = open(args.password_file).read().splitlines()[0]
    os.makedirs(args.out, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="sasando-chromium-")
    command = [args.chromium, "--headless", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
               "--disable-extensions", "--hide-scrollbars", "--window-size=1280,900", "--remote-debugging-port=0",
               f"--user-data-dir={profile}",
               # The console's certificate comes from the demo CA, which this throwaway profile does not trust.
               "--ignore-certificate-errors", "about:blank"]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")
    chromium = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    failures = []
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + TIMEOUT_SECONDS
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if time.time() > deadline or chromium.poll() is not None:
                raise RuntimeError("Chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=TIMEOUT_SECONDS))
        target = next(t for t in targets if t["type"] == "page")
        page = Page(WebSocket(target["webSocketDebuggerUrl"]))
        page.call("Page.enable")
        page.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)

        # 1. The real login form: type into its fields and submit it like a person would.
        page.navigate(args.url + "/login")
        check(page.evaluate("!!document.querySelector('form[action=\"/login\"] input[name=csrf]')"), "login form has its CSRF field", failures)
        page.screenshot(os.path.join(args.out, "login.png"))
        page.evaluate(f"""(() => {{
            document.querySelector('input[name=username]').value = {json.dumps(args.user)};
            document.querySelector('input[name=password]').value = {json.dumps(password)};
            document.querySelector('form[action="/login"] button[type=submit]').click();
        }})()""")
        page.wait_for("Page.loadEventFired")
        check(page.evaluate("location.pathname") == "/dashboard", "login lands on the dashboard", failures)
        cookies = page.call("Network.getCookies", urls=[args.url]).get("cookies", [])
        session = [c for c in cookies if c["name"] == "__Host-sasando_session"]
        check(bool(session) and session[0]["httpOnly"] and session[0]["secure"] and session[0].get("sameSite") == "Strict",
              "session cookie is Secure, HttpOnly, SameSite=Strict", failures)
        check(page.evaluate("document.cookie").find("sasando_session") < 0, "session cookie is invisible to scripts", failures)

        # 2. Dashboard totals.
        page.navigate(args.url + "/dashboard")
        approved = text_of(page, "approved-count")
        amount = text_of(page, "approved-amount") or ""
        check(approved is not None and approved.strip().isdigit() and int(approved) > 0, f"dashboard: approved payments today = {approved}", failures)
        check(amount.startswith("Rp ") and not amount.startswith("Rp 0,00"), f"dashboard: approved amount = {amount.strip()}", failures)
        check(page.evaluate("document.querySelectorAll('svg rect').length") > 0, "dashboard: charts rendered", failures)
        page.screenshot(os.path.join(args.out, "dashboard.png"))

        # 3. Settlement report of the current business date.
        page.navigate(args.url + "/settlement")
        payments = text_of(page, "total-payments")
        net = text_of(page, "total-net-payable") or ""
        trial = text_of(page, "trial-balance-total") or ""
        check(payments is not None and payments.strip().isdigit() and int(payments) > 0, f"settlement: payments = {payments}", failures)
        check(net.startswith("Rp ") and not net.startswith("Rp 0,00"), f"settlement: net payable = {net.strip()}", failures)
        check(trial.strip() == "Rp 0,00", f"settlement: trial balance total = {trial.strip()} (must be zero)", failures)
        check(page.evaluate("document.querySelectorAll('#billers tbody tr').length") > 0, "settlement: per-biller rows", failures)
        page.screenshot(os.path.join(args.out, "settlement.png"))

        # 4. Payment points: the supervisor's daily-limit form, sent like a person would (its CSRF
        #    field, the signed notice after the redirect); the limit typed is the demo default, so
        #    the run leaves the demo set as it was.
        page.navigate(args.url + "/payment-points")
        rows = page.evaluate("document.querySelectorAll('#payment-points tbody tr').length")
        check(rows > 0, f"payment points: {rows} rows", failures)
        page.evaluate("""(() => {
            const form = document.querySelector('form[action="/payment-points/limit"]');
            form.querySelector('input[name=limit]').value = 'Rp 1.000.000.000';
            form.querySelector('button[type=submit]').click();
        })()""")
        page.wait_for("Page.loadEventFired")
        banner = page.evaluate("document.body.textContent")
        check("The daily limit of " in banner and "Rp 1.000.000.000,00" in banner, "payment points: the daily-limit form answers with its notice", failures)
        page.screenshot(os.path.join(args.out, "payment-points.png"))

        # 5. Terminals of the first payment point, with their block forms.
        page.navigate(args.url + "/terminals?merchant=NTTPP0000000001")
        terminals = page.evaluate("document.querySelectorAll('#terminals tbody tr').length")
        forms = page.evaluate("document.querySelectorAll('#terminals form[action=\"/terminals/status\"]').length")
        check(terminals > 0 and forms == terminals, f"terminals: {terminals} rows, {forms} block forms", failures)
    except Exception as error:  # any protocol failure fails the test
        failures.append(str(error))
        print(f"FAIL {error}")
    finally:
        chromium.terminate()
        try:
            chromium.wait(timeout=10)
        except subprocess.TimeoutExpired:
            chromium.kill()
        shutil.rmtree(profile, ignore_errors=True)
    if failures:
        print(f"browser test: {len(failures)} failure(s)")
        sys.exit(1)
    print("browser test: passed")


if __name__ == "__main__":
    main()
