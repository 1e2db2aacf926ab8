import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
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
      await page.getByRole("button", { name: "Save change" }).click();
      await eventually(() => text("[data-testid=saved]")).toContain("pricing/pro-input-overage");
      await shot("4-saved");

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

    it("is usable from the keyboard and on a 390px-wide screen", async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.getByRole("button", { name: "Plans" }).focus();
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: "Plans and entitlements" }).waitFor();
      // Tab walks from the section tabs to the table region, then to its first edit button.
      await page.keyboard.press("Tab");
      await page.keyboard.press("Tab");
      await page.keyboard.press("Tab");
      await page.keyboard.press("Tab");
      expect(await page.locator(":focus").getAttribute("aria-label")).toBe("Plans and entitlements table");
      await page.keyboard.press("Tab");
      expect(await page.locator(":focus").textContent()).toMatch(/^Edit /);
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: /^Edit / }).waitFor();
      await page.getByLabel("Included units per period").waitFor();
      // Nothing wider than the screen except the table, which scrolls inside its own region.
      // (Expressions run in the page, where the DOM is.)
      expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
      const controls = await page.evaluate<number>(
        `document.querySelectorAll("input, select, textarea").length`,
      );
      const labelled = await page.evaluate<number>(
        `[...document.querySelectorAll("input, select, textarea")].filter((el) => el.labels.length > 0).length`,
      );
      expect(controls).toBeGreaterThan(0);
      expect(labelled).toBe(controls);
      await shot("5-phone");
    });
  },
  240_000,
);
