/**
 * Every page of the app. To add one: write `routes/<name>.tsx` exporting a
 * `PageDef`, then add it to this list; navigation and role guards follow.
 */
import { knowledgePage } from "./admin.knowledge";
import { specsPage } from "./admin.specs";
import { chatPage, chatThreadPage } from "./chat";
import { dashboardPage } from "./dashboard";
import { handoffsPage } from "./handoffs";
import { inboxPage } from "./inbox";
import { loginPage } from "./login";
import { replayListPage } from "./replay.index";
import { replayPage } from "./replay.$threadId";
import type { PageDef } from "./types";

export const pages: PageDef[] = [chatPage, chatThreadPage, inboxPage, handoffsPage, replayListPage, replayPage, dashboardPage, specsPage, knowledgePage, loginPage];
