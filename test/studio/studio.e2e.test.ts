import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { previewInvoice } from "limitr-engine";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limitr, REPO } from "../cli/run-cli.js";
import {
  buildStudioWeb,
  findChromium,
  policyRepo,
  type RunningStudio,
  startStudio,
  usageStore,
} from "./studio-helpers.js";

const CHROMIUM = findChromium();
const ARTIFACTS = join(REPO, "test/artifacts/studio");
const PLANS = "policies/plans.yaml";
const CUSTOMERS = "policies/customers.yaml";
const REMOTE_WEB = "https://github.com/acme-ai/pricing";
/** The page answers as fast as a loaded CI machine lets it: wait generously for what it shows. */
const eventually = <T>(read: () => Promise<T>, timeout = 30_000) =>
  expect.poll(read, { timeout, interval: 200 });

if (!CHROMIUM)
  console.warn(
    "studio browser test skipped: no Chromium (install Debian's `chromium` package, as .ci/run does)",
  );

/** A person changes the pro plan's overage in the studio, trips the validator, fixes it, reviews and saves. */
describe.skipIf(!CHROMIUM)(
  "limitr studio in a real browser",
  () => {
    let browser: Browser;
    let studio: RunningStudio;
    let repo: ReturnType<typeof policyRepo>;
    let original: string;
    let db: string;
    let page: Page;
    /** The bare repository `origin` pushes to (its fetch URL is a GitHub address, for the pull-request link). */
    let bare: string;
    const read = (file: string) => readFileSync(join(repo.dir, file), "utf8");
    const comments = (text: string) => text.split("\n").filter((l) => l.includes("#"));
    /** Text of the first element matching `selector`, "" while there is none. */
    const text = (selector: string) =>
      page
        .locator(selector)
        .first()
        .textContent({ timeout: 500 })
        .then((t) => t ?? "")
        .catch(() => "");
    const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      buildStudioWeb();
      repo = policyRepo();
      original = readFileSync(join(repo.dir, PLANS), "utf8");
      // The bundle store lives in the repository (.limitr/bundles) and stays out of git.
      writeFileSync(join(repo.dir, ".gitignore"), ".limitr/\n");
      repo.git("add", ".gitignore");
      repo.git("commit", "--quiet", "-m", "ignore the bundle store");
      bare = join(mkdtempSync(join(tmpdir(), "limitr-studio-remote-")), "pricing.git");
      execFileSync("git", ["init", "--quiet", "--bare", bare]);
      repo.git("remote", "add", "origin", `${REMOTE_WEB}.git`);
      repo.git("config", "remote.origin.pushurl", bare);
      repo.git("push", "--quiet", "origin", "main");
      // Version 1 of staging: the policy as main has it.
      const pushed = await limitr(["push", "--env", "staging", "--skip-tests"], repo.dir);
      expect(pushed.exitCode, pushed.stderr).toBe(0);
      db = usageStore();
      studio = await startStudio(repo.dir, ["--db", db]);
      browser = await chromium.launch({ executablePath: CHROMIUM!, args: ["--no-sandbox"] });
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await studio?.stop();
    });

    it("refuses a request without the token", async () => {
      const response = await fetch(`${studio.origin}/api/policy`);
      expect(response.status).toBe(401);
      const page = await fetch(`${studio.origin}/`);
      expect(page.status).toBe(401);
    });

    it("changes the pro plan's overage, validating as the person types, and saves it on a branch", async () => {
      await page.goto(studio.url);
      // The token moved into a cookie and out of the address bar.
      expect(new URL(page.url()).search).toBe("");
      await page.getByRole("heading", { name: "Plans and entitlements" }).waitFor();
      await eventually(() => text("table.matrix")).toContain("first 2,000,000 free, then $0.000003 each");
      await shot("1-plans");

      await page.getByRole("button", { name: "Edit chat_input on pro" }).click();
      const overage = page.getByLabel("Price per unit past the limit");
      const limit = page.getByLabel("Included units per period");
      await eventually(() => overage.inputValue()).toBe("0.000003");
      await overage.fill("0.000004");
      await limit.fill("-5");
      await eventually(() => text("[data-testid=check]")).toContain(
        "plans.pro.entitlements.chat_input.limit must be >= 0",
      );
      expect(await limit.getAttribute("aria-invalid")).toBe("true");
      expect(await page.getByRole("button", { name: "Apply change" }).isDisabled()).toBe(true);
      await shot("2-validation-error");

      await limit.fill("2000000");
      await eventually(() => text("[data-testid=check]")).toContain(
        "first 2,000,000 free, then $0.000004 each",
      );
      await page.getByRole("button", { name: "Apply change" }).click();
      await eventually(() => text("table.matrix")).toContain("first 2,000,000 free, then $0.000004 each");

      await page.getByRole("button", { name: "Review and save" }).click();
      await eventually(() => text("ul.diff")).toContain("plans.pro.entitlements.chat_input");
      expect(await text("ul.diff")).toContain("Breaking");
      // The simulation on the last closed month agrees with `limitr simulate` to the cent.
      const cli = await limitr(
        ["simulate", "--base", "main", "--period", "2026-10", "--format", "json", "--db", db],
        repo.dir,
      );
      expect(cli.stderr).toBe("");
      const totals = JSON.parse(cli.stdout).totals;
      expect(Number(totals.revenue_change)).toBeGreaterThan(0);
      await eventually(() => text("[data-testid=simulation]"), 90_000).toContain(
        `revenue goes from ${totals.base_revenue} to ${totals.head_revenue} USD (+${totals.revenue_change}`,
      );
      const chart = await text("svg.chart");
      for (const words of ["Revenue (USD)", "Plan", "Pro", "Before (main)", "After (your change)"])
        expect(chart).toContain(words);
      await shot("3-review");

      await page.getByLabel("Branch name").fill("pricing/pro-input-overage");
      await page.getByLabel("What changed and why").fill("Pro: input tokens past 2M cost $4 per million");
      await page.getByLabel("Push the branch to origin").check();
      await page.getByRole("button", { name: "Save change" }).click();
      await eventually(() => text("[data-testid=saved]")).toContain("pricing/pro-input-overage");
      expect(await text("[data-testid=saved]")).toContain("Pushed to origin.");
      expect(await page.getByRole("link", { name: "Open the pull request" }).getAttribute("href")).toBe(
        `${REMOTE_WEB}/compare/main...pricing%2Fpro-input-overage?expand=1`,
      );
      await shot("4-saved");
      // The branch is on the remote at the saved commit; the remote's main did not move.
      const remote = (...args: string[]) =>
        execFileSync("git", ["--git-dir", bare, ...args], { encoding: "utf8" }).trim();
      expect(remote("rev-parse", "refs/heads/pricing/pro-input-overage")).toBe(repo.git("rev-parse", "HEAD"));
      expect(remote("rev-parse", "refs/heads/main")).toBe(repo.git("rev-parse", "main"));
      expect(repo.git("rev-parse", "--abbrev-ref", "pricing/pro-input-overage@{upstream}")).toBe(
        "origin/pricing/pro-input-overage",
      );

      expect(repo.git("branch", "--show-current")).toBe("pricing/pro-input-overage");
      expect(repo.git("log", "-1", "--format=%s")).toBe("Pro: input tokens past 2M cost $4 per million");
      expect(repo.git("log", "-1", "--format=%an <%ae>")).toBe("Pricing Team <pricing@example.com>");
      expect(repo.git("show", "--name-only", "--format=", "HEAD")).toBe(PLANS);
      expect(repo.git("show", `main:${PLANS}`)).toBe(original.trimEnd());
      expect(repo.git("status", "--porcelain")).toBe("");
      // The committed YAML differs from the original in the one edited line; every comment is intact.
      const saved = repo.git("show", `HEAD:${PLANS}`).split("\n");
      const before = original.trimEnd().split("\n");
      expect(saved).toHaveLength(before.length);
      expect(saved.filter((line, i) => line !== before[i])).toEqual([
        "        overage: 0.000004          # $3 per million tokens past the included 2M",
      ]);
      const comments = (lines: string[]) => lines.filter((l) => l.trimStart().startsWith("#"));
      expect(comments(saved)).toEqual(comments(before));
    });

    it("edits a tier table, gives a plan a wallet grant and creates a plan from a copy", async () => {
      await page.getByRole("button", { name: "Plans", exact: true }).click();
      await page.getByRole("button", { name: "Edit tiers of chat_input on enterprise" }).click();
      const tier = (n: number) => page.getByRole("group", { name: `Tier ${n}`, exact: true });
      await eventually(() => tier(3).getByLabel("Price per unit").inputValue()).toBe("0.0000015");
      await tier(3).getByLabel("Up to (units)").fill("500000000");
      await page.getByRole("button", { name: "Add tier" }).click();
      await tier(4).getByLabel("Price per unit").fill("-0.000001");
      await eventually(() => text("[data-testid=check]")).toContain(
        "plans.enterprise.entitlements.chat_input.price.tiers[3].unit_price must be >= 0",
      );
      expect(await tier(4).getByLabel("Price per unit").getAttribute("aria-invalid")).toBe("true");
      expect(await page.getByRole("button", { name: "Apply change" }).isDisabled()).toBe(true);
      await shot("5-tiers-invalid");
      await tier(4).getByLabel("Price per unit").fill("0.000001");
      await eventually(() => text("[data-testid=check]")).toContain("Valid");
      await page.getByRole("button", { name: "Apply change" }).click();
      await eventually(() => text("table.matrix")).toContain("500,000,000");
      const plans = read(PLANS);
      expect(plans).toContain(
        [
          "            - { up_to: 100000000, unit_price: 0.000002 }",
          "            - { up_to: 500000000, unit_price: 0.0000015 }",
          "            - { unit_price: 0.000001 }",
        ].join("\n"),
      );

      await page.getByRole("button", { name: "Wallet grant of pro" }).click();
      const grant = page.getByRole("group", { name: "Grant", exact: true });
      await grant.getByLabel("Amount granted").fill("10");
      await grant.getByLabel("Every", { exact: true }).fill("month");
      await eventually(() => text("[data-testid=check]")).toContain("Valid");
      await page.getByRole("button", { name: "Apply change" }).click();
      await eventually(() => text("table.matrix")).toContain("Wallet: 10 USD every month");
      expect(read(PLANS)).toContain(
        "      export_pdf: true\n    wallet:\n      grant: { amount: 10, every: month }\n",
      );

      await page.getByRole("button", { name: "New plan from a copy" }).click();
      await page.getByLabel("Copy the terms of").selectOption("pro");
      await page.getByLabel("New plan id").fill("Pro Plus");
      await eventually(() => text("[data-testid=copy-check]")).toContain('"Pro Plus" cannot be a plan id');
      await page.getByLabel("New plan id").fill("pro-plus");
      await page.getByLabel("Display name").fill("Pro Plus");
      await eventually(() => text("[data-testid=copy-check]")).toContain(
        "Valid: pro-plus will be written to policies/plans.yaml, right after pro.",
      );
      await page.getByRole("button", { name: "Create plan" }).click();
      await eventually(() => text("table.matrix")).toContain("Pro Plus (pro-plus)");
      const copied = read(PLANS);
      // The copy sits right after pro, its comments included; the default flag is never copied.
      expect(copied).toContain("\n\n  pro-plus:\n    name: Pro Plus\n    price: 49\n");
      expect(copied.indexOf("  pro-plus:")).toBeLessThan(copied.indexOf("  enterprise:"));
      expect(copied.split("# $3 per million tokens past the included 2M")).toHaveLength(3);
      const all = await limitr(["validate"], repo.dir);
      expect(all.exitCode, all.stdout + all.stderr).toBe(0);
    });

    it("shows customers' usage against their limits, wallets and invoices, and edits contract terms", async () => {
      // A top-up through the CLI gives globex a wallet in the store (pro has one now).
      const topup = await limitr(
        ["balances", "topup", "globex", "25", "--id", "studio-check", "--db", db],
        repo.dir,
      );
      expect(topup.exitCode, topup.stderr).toBe(0);
      const balance = JSON.parse(
        (await limitr(["balances", "show", "globex", "--format", "json", "--db", db], repo.dir)).stdout,
      ).wallets[0];

      await page.getByRole("button", { name: "Customers" }).click();
      await page.getByLabel("Usage as of").fill("2026-10-31");
      await page.getByLabel("Find a customer").fill("globex");
      const card = page.getByTestId("customer-globex");
      const used = await limitr(
        [
          "usage",
          "query",
          "--customer",
          "globex",
          "--meter",
          "input_tokens",
          "--period",
          "2026-10",
          "--format",
          "json",
          "--db",
          db,
        ],
        repo.dir,
      );
      const tokens = JSON.parse(used.stdout).rows[0].value as string;
      await eventually(() => card.textContent(), 60_000).toContain(`chat_input${tokens}5000000 per month`);
      expect(await card.textContent()).toContain(
        `Wallet: ${balance.balance} USD (available ${balance.available}`,
      );
      // Usage recorded while the page is open shows on a refresh.
      const late = join(mkdtempSync(join(tmpdir(), "limitr-studio-late-")), "late.ndjson");
      const event = {
        id: "late-1",
        type: "llm.completion",
        customer: "globex",
        timestamp: "2026-10-31T20:00:00Z",
        properties: { model: "gpt-4o", input_tokens: 1000, output_tokens: 1 },
      };
      writeFileSync(late, `${JSON.stringify(event)}\n`);
      expect((await limitr(["usage", "import", late, "--db", db], repo.dir)).exitCode).toBe(0);
      await page.getByRole("button", { name: "Refresh usage" }).click();
      await eventually(() => card.textContent(), 60_000).toContain(
        `chat_input${BigInt(tokens) + 1000n}5000000 per month`,
      );
      await card.getByRole("button", { name: "Preview invoice of globex" }).click();
      const draft = await previewInvoice({
        policy: join(repo.dir, "policies"),
        store: db,
        customer: "globex",
        period: "2026-10",
      });
      expect(draft).not.toBeNull();
      await eventually(() => text("[data-testid=invoice-globex]"), 60_000).toContain(
        `Invoice preview for 2026-10 so far: ${draft!.total}`,
      );
      await shot("6-customers");

      const before = read(CUSTOMERS);
      await page.getByLabel("Find a customer").fill("acme-research");
      await page.getByRole("button", { name: "Edit overrides of acme-research" }).click();
      await page.getByRole("button", { name: "Add override" }).click();
      const override = page.getByRole("group", { name: "Override 1", exact: true });
      await override.getByLabel("Entitlement").selectOption("gpu");
      await override.getByLabel("Included units per period").fill("72000");
      await override.getByLabel("Until (date)").fill("2027-01-31");
      await eventually(() => text("[data-testid=check]")).toContain("Valid");
      await page.getByRole("button", { name: "Apply change" }).click();
      await eventually(() => text("[data-testid=customer-acme-research]")).toContain(
        "override gpu: limit 72,000 until 2027-01-31",
      );

      await page.getByLabel("Find a customer").fill("globex");
      await page.getByRole("button", { name: "Edit discounts of globex" }).click();
      await page.getByRole("button", { name: "Add discount" }).click();
      const discount = page.getByRole("group", { name: "Discount 1", exact: true });
      await discount.getByLabel("Percent off").fill("150");
      await eventually(() => text("[data-testid=check]")).toContain("customers.globex.discounts[0].percent");
      expect(await page.getByRole("button", { name: "Apply change" }).isDisabled()).toBe(true);
      await discount.getByLabel("Percent off").fill("10");
      await eventually(() => text("[data-testid=check]")).toContain("Valid");
      await page.getByRole("button", { name: "Apply change" }).click();
      await eventually(() => text("[data-testid=customer-globex]")).toContain("10% off the whole invoice");

      await page.getByRole("button", { name: "Edit credits of globex" }).click();
      const credit = page.getByRole("group", { name: "Credit 1", exact: true });
      await eventually(() => credit.getByLabel("Amount").inputValue()).toBe("25");
      await credit.getByLabel("Amount").fill("40");
      await eventually(() => text("[data-testid=check]")).toContain("Valid");
      await page.getByRole("button", { name: "Apply change" }).click();
      await eventually(() => text("[data-testid=customer-globex]")).toContain("credit of $40.00");

      const after = read(CUSTOMERS);
      expect(after).toContain(
        "    metadata: { stripe_customer_id: cus_acmeresearch, segment: strategic }\n    overrides:\n      gpu: { limit: 72000, expires: 2027-01-31 }\n",
      );
      expect(after).toContain(
        "      - { amount: 40, priority: 2, expires: 2027-03-31 }    # goodwill credit\n    discounts:\n      - { percent: 10 }\n",
      );
      // Every comment is where it was; the lines changed are the ones the forms changed.
      expect(comments(after).map((l) => l.slice(l.indexOf("#")))).toEqual(
        comments(before).map((l) => l.slice(l.indexOf("#"))),
      );
      expect(after.split("\n").length - before.split("\n").length).toBe(4);

      await page.getByRole("button", { name: "Review and save" }).click();
      await page.getByLabel("Branch name").fill("pricing/contract-terms");
      await page
        .getByLabel("What changed and why")
        .fill("Enterprise tiers, pro wallet, Pro Plus, contract terms");
      await page.getByRole("button", { name: "Save change" }).click();
      await eventually(() => text("[data-testid=saved]")).toContain("pricing/contract-terms");
      expect(repo.git("status", "--porcelain")).toBe("");
      expect(repo.git("show", "--name-only", "--format=", "HEAD").split("\n").sort()).toEqual([
        CUSTOMERS,
        PLANS,
      ]);
    });

    it("lists policy commits and pushed versions, and rolls back after a confirmation", async () => {
      const second = await limitr(["push", "--env", "staging", "--skip-tests"], repo.dir);
      expect(second.exitCode, second.stderr).toBe(0);
      const history = async () =>
        JSON.parse((await limitr(["history", "--env", "staging", "--format", "json"], repo.dir)).stdout);
      expect((await history()).currentVersion).toBe(2);

      await page.getByRole("button", { name: "History" }).click();
      await eventually(() => text("[data-testid=commits]")).toContain(
        "Enterprise tiers, pro wallet, Pro Plus, contract terms",
      );
      expect(await text("[data-testid=commits]")).toContain("Pro: input tokens past 2M cost $4 per million");
      await eventually(() => text("[data-testid=versions]")).toContain("current");
      await page.getByRole("button", { name: "Roll back to version 1" }).click();
      const dialog = page.getByRole("dialog", { name: "Roll staging back to version 1?" });
      await dialog.waitFor();
      await shot("7-rollback-confirm");
      await dialog.getByRole("button", { name: "Keep the current version" }).click();
      await dialog.waitFor({ state: "hidden" });
      expect((await history()).currentVersion).toBe(2);
      // From the keyboard: Enter opens it, the reason field is reachable, Escape cancels and focus returns.
      await page.getByRole("button", { name: "Roll back to version 1" }).focus();
      await page.keyboard.press("Enter");
      await dialog.waitFor();
      expect(await page.locator(":focus").getAttribute("id")).toBe("rollback-reason");
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "hidden" });
      expect(await page.locator(":focus").textContent()).toBe("Roll back to version 1");
      expect((await history()).currentVersion).toBe(2);

      await page.getByRole("button", { name: "Roll back to version 1" }).click();
      await dialog.getByLabel("Reason (recorded with the pin)").fill("wrong enterprise tiers");
      await dialog.getByRole("button", { name: "Roll back", exact: true }).click();
      await eventually(() => text("[data-testid=rollback-done]")).toContain(
        "Rolled staging back to version 1's content as version 3",
      );
      const after = await history();
      expect(after.currentVersion).toBe(3);
      expect(after.versions[0].manifest.rollbackOf).toBe(1);
      expect(after.versions[0].manifest.digest).toBe(after.versions[2].manifest.digest);
      expect(after.pinned).toMatchObject({ version: 3, reason: "wrong enterprise tiers" });
      await eventually(() => text("[data-testid=versions]")).toContain("rollback to version 1");
    });

    it("is usable from the keyboard and on a 390px-wide screen", async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.getByRole("button", { name: "Plans", exact: true }).focus();
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: "Plans and entitlements" }).waitFor();
      // Tab walks along the section tabs to the table region, then to the first plan's wallet grant button.
      for (let i = 0; i < 5; i++) await page.keyboard.press("Tab");
      expect(await page.locator(":focus").getAttribute("aria-label")).toBe("Plans and entitlements table");
      await page.keyboard.press("Tab");
      // One wallet-grant button per plan in the header row, then the first cell's edit button.
      const plans = await page.locator("table.matrix thead th").count();
      for (let i = 1; i < plans; i++) {
        expect(await page.locator(":focus").textContent()).toMatch(/^Wallet grant/);
        await page.keyboard.press("Tab");
      }
      expect(await page.locator(":focus").textContent()).toMatch(/^Edit /);
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: /^Edit / }).waitFor();
      // The editor's heading takes focus; Tab goes on to its first field.
      await page.getByLabel("Included units per period").waitFor();
      expect(await page.locator(":focus").textContent()).toMatch(/^Edit /);
      await page.keyboard.press("Tab");
      expect(await page.locator(":focus").getAttribute("id")).toBe("field-limit");

      // Every page at both widths: a screenshot each, every control labelled, nothing wider than a phone.
      const pages = [
        {
          tab: "Plans",
          ready: () => page.getByRole("heading", { name: "Plans and entitlements" }).waitFor(),
        },
        {
          tab: "Customers",
          ready: () =>
            page.getByRole("status").filter({ hasText: "customers; usage" }).waitFor({ timeout: 60_000 }),
        },
        {
          tab: "Review and save",
          ready: () => page.getByRole("heading", { name: "Save as a branch" }).waitFor(),
        },
        { tab: "History", ready: () => page.getByTestId("versions").waitFor() },
      ];
      for (const width of [1280, 390]) {
        await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
        for (const p of pages) {
          await page.getByRole("button", { name: p.tab, exact: true }).click();
          await p.ready();
          await shot(`8-${p.tab.toLowerCase().replaceAll(" ", "-")}-${width}`);
          const unlabelled = await page.evaluate<string[]>(
            `[...document.querySelectorAll("input, select, textarea")].filter((el) => el.labels.length === 0).map((el) => el.id || el.outerHTML)`,
          );
          expect(unlabelled, `${p.tab} at ${width}px`).toEqual([]);
          const unnamed = await page.evaluate<string[]>(
            `[...document.querySelectorAll("button, a")].filter((el) => el.textContent.trim() === "" && !el.getAttribute("aria-label")).map((el) => el.outerHTML)`,
          );
          expect(unnamed, `${p.tab} at ${width}px`).toEqual([]);
          if (width === 390)
            expect(
              await page.evaluate<number>("document.documentElement.scrollWidth"),
              `${p.tab} at 390px`,
            ).toBeLessThanOrEqual(390);
        }
      }
    });
  },
  420_000,
);
